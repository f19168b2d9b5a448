import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import TierCacheBackend
import TierCachePolicy
import TierCachePostgres
import TierCacheSQLite
import TierCacheServer
import TierCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `tiercache db …`: the database side of TierCache.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Prepare the database TierCache runs on.",
        subcommands: [DatabaseInitCommand.self, InstallTriggersCommand.self, UninstallTriggersCommand.self]
    )

    /// Runs `script` in one transaction on the SQLite file at `path` (which must exist), or prints why not and exits.
    static func runSQLite(_ script: String, on path: String, what: String) throws {
        do {
            let backend = try SQLiteBackend(path: path, configuration: .init(createIfMissing: false))
            defer { backend.close() }
            try backend.executeScript(script)
        } catch {
            printErrors(["\(what) failed in sqlite:\(path): \(error.message)"])
            throw ExitCode(1)
        }
    }

    /// Runs `statements` one by one on the PostgreSQL database at `url`, or prints why not and exits.
    static func run(_ statements: [String], on url: PostgresURL, what: String) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        var configuration = PostgresBackend.Configuration()
        configuration.minimumConnections = 0
        configuration.statementTimeout = nil
        let backend = try PostgresBackend(
            url: url, configuration: configuration, eventLoopGroup: group, logger: Logger(label: "tiercache.db"),
            now: SystemClock().monotonicNanoseconds)
        defer { backend.close() }
        if let problem = await backend.connectionProblem(on: group.next()) {
            printErrors(["cannot reach database \(url.redacted): \(problem)"])
            throw ExitCode(1)
        }
        for statement in statements {
            do {
                let call = BackendCall(eventLoop: group.next(), submittedAt: 0)
                _ = try await backend.write(statement, parameters: [], call: call).get()
            } catch {
                let message = (error as? BackendError)?.message ?? "\(error)"
                printErrors(["\(what) failed in \(url.redacted): \(message)", "  statement: \(statement)"])
                throw ExitCode(1)
            }
        }
    }
}

/// `tiercache db install-triggers`: other programs' writes to the policies' tables, heard by TierCache.
struct InstallTriggersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-triggers",
        abstract: "Make the database tell TierCache of writes that bypass it (psql, migrations, other services).",
        discussion: """
            PostgreSQL: one trigger function and, on every table the policies' `tables` lists name, a statement-level \
            trigger that NOTIFYs TierCache when a transaction that changed the table commits. SQLite: a table \
            tiercache_changes with a version per table, raised by triggers on each table, which TierCache reads \
            when another connection commits (PRAGMA data_version). Run it again after adding tables; it replaces \
            what it made before. tiercache db uninstall-triggers removes it all.
            """
    )

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(help: "Policy directory or file whose tables get triggers (TIERCACHE_POLICIES); default ttl-policies.")
    var policies: String?

    func run() async throws {
        let path = Environment.resolve(policies, "TIERCACHE_POLICIES", default: "ttl-policies")
        let policySet: PolicySet
        do {
            policySet = try PolicyLoader.load(path: path)
        } catch {
            printErrors(error.errors.map(\.description))
            throw ExitCode(1)
        }
        let tables = Set(policySet.types.flatMap(\.tables)).sorted()
        guard !tables.isEmpty else {
            printErrors(["the policies in \(path) list no tables: nothing to install"])
            throw ExitCode(1)
        }
        let database = try databaseOptions.resolve()
        switch database {
        case .sqlite(let path):
            try DatabaseCommand.runSQLite(
                SQLiteChangeTriggers.installScript(tables: tables), on: path, what: "install-triggers")
        case .postgres(let url):
            try await DatabaseCommand.run(
                PostgresChangeTriggers.installStatements(tables: tables), on: url, what: "install-triggers")
        }
        print("triggers installed in \(database.redacted) on \(tables.count) tables: \(tables.joined(separator: ", "))")
    }
}

/// `tiercache db uninstall-triggers`: what install-triggers made, removed.
struct UninstallTriggersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall-triggers",
        abstract: "Remove the triggers install-triggers made."
    )

    @OptionGroup var databaseOptions: DatabaseOptions

    func run() async throws {
        let database = try databaseOptions.resolve()
        switch database {
        case .sqlite(let path):
            let triggers: [String]
            do {
                let backend = try SQLiteBackend(path: path, configuration: .init(createIfMissing: false))
                defer { backend.close() }
                triggers = try backend.read(SQLiteChangeTriggers.triggerNamesQuery, parameters: []).resultSet.rows
                    .compactMap {
                        if case .text(let name)? = $0.first { String(decoding: name, as: UTF8.self) } else { nil }
                    }
            } catch {
                printErrors(["uninstall-triggers failed in sqlite:\(path): \(error.message)"])
                throw ExitCode(1)
            }
            try DatabaseCommand.runSQLite(
                SQLiteChangeTriggers.uninstallScript(triggers: triggers), on: path, what: "uninstall-triggers")
        case .postgres(let url):
            try await DatabaseCommand.run(
                PostgresChangeTriggers.uninstallStatements, on: url, what: "uninstall-triggers")
        }
        print("triggers removed from \(database.redacted)")
    }
}

/// `tiercache db init`: the demo tables and rows the shipped policies read.
struct DatabaseInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the demo tables and rows of the shipped ttl-policies/.",
        discussion: """
            On PostgreSQL it creates what is missing and leaves what exists (run it again at will). On SQLite it \
            creates the file, which must not exist yet (serve does the same when its file is absent).
            """
    )

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(
        name: .customLong("demo-benchmark-keys"),
        help: "Rows of the demo's `key` type (redis-benchmark's key:000000000000 …); default 1000000.")
    var benchmarkKeys: Int = DemoDatabase.defaultBenchmarkKeys

    func run() async throws {
        guard benchmarkKeys >= 0 else { throw ValidationError("--demo-benchmark-keys must be 0 or more") }
        let database = try databaseOptions.resolve()
        switch database {
        case .sqlite(let path):
            guard access(path, F_OK) != 0 else {
                printErrors(["\(path) exists: db init creates a new SQLite file; remove it or name another"])
                throw ExitCode(1)
            }
            do {
                let backend = try SQLiteBackend(path: path)
                defer { backend.close() }
                try DemoDatabase.seed(backend, benchmarkKeys: benchmarkKeys)
            } catch {
                printErrors(["cannot create sqlite:\(path): \(error.message)"])
                throw ExitCode(1)
            }
        case .postgres(let url):
            try await DatabaseCommand.run(
                DemoDatabase.postgresStatements(benchmarkKeys: benchmarkKeys), on: url, what: "db init")
        }
        print("demo tables ready in \(database.redacted): \(DemoDatabase.tables.count) tables")
    }
}
