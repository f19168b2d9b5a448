import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import TierCacheBackend
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
        subcommands: [DatabaseInitCommand.self]
    )
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
            try await initPostgres(url)
        }
        print("demo tables ready in \(database.redacted): \(DemoDatabase.tables.count) tables")
    }

    private func initPostgres(_ url: PostgresURL) async throws {
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
        for statement in DemoDatabase.postgresStatements(benchmarkKeys: benchmarkKeys) {
            do {
                let call = BackendCall(eventLoop: group.next(), submittedAt: 0)
                _ = try await backend.write(statement, parameters: [], call: call).get()
            } catch {
                let message = (error as? BackendError)?.message ?? "\(error)"
                printErrors(["db init failed in \(url.redacted): \(message)", "  statement: \(statement)"])
                throw ExitCode(1)
            }
        }
    }
}
