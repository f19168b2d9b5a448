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

/// The database `serve` runs on, behind the one `BackendAdapter` the server sees: an SQLite file on a thread pool
/// of its own, or a PostgreSQL server through postgres-nio on the event loops.
struct OpenedDatabase {
    let adapter: any BackendAdapter
    /// SQLite's blocking calls run here; nil for PostgreSQL.
    private let threadPool: NIOThreadPool?

    /// Opens `configuration.database`, or prints why not and exits: an SQLite file that cannot be opened, a
    /// PostgreSQL server that cannot be reached or refuses the login. An absent SQLite file is created with the
    /// demo rows (`benchmarkKeys` of the `key` type).
    static func open(
        _ configuration: ServerConfiguration, benchmarkKeys: Int, group: MultiThreadedEventLoopGroup, logger: Logger
    ) async throws -> OpenedDatabase {
        switch configuration.database {
        case .sqlite(let path):
            return try openSQLite(path: path, configuration, benchmarkKeys: benchmarkKeys, logger: logger)
        case .postgres(let url):
            return try await openPostgres(url, configuration, group: group, logger: logger)
        }
    }

    /// Interrupts what still runs (a runaway QUERY would otherwise hold the process), stops the thread pool and
    /// then the event loops, and closes the connections. The pool first: an interrupted statement still answers
    /// its caller's promise on an event loop, which must be running then.
    func close(group: MultiThreadedEventLoopGroup) async {
        adapter.interruptAll()
        try? await threadPool?.shutdownGracefully()
        try? await group.shutdownGracefully()
        adapter.close()
    }

    private static func openSQLite(
        path: String, _ configuration: ServerConfiguration, benchmarkKeys: Int, logger: Logger
    ) throws -> OpenedDatabase {
        let exists = access(path, F_OK) == 0
        let backend: SQLiteBackend
        do {
            backend = try SQLiteBackend(
                path: path,
                configuration: .init(
                    readers: configuration.databaseReaders, acquireTimeout: configuration.databaseAcquireTimeout,
                    clientReadTimeout: configuration.databaseTimeout,
                    statementTimeout: configuration.databaseStatementTimeout,
                    maxResultBytes: configuration.maxResultSize))
            if exists {
                logger.info("database opened", metadata: ["sqlite": "\(path)"])
            } else {
                try DemoDatabase.seed(backend, benchmarkKeys: benchmarkKeys)
                logger.notice(
                    "database file was absent: created it with demo rows",
                    metadata: [
                        "sqlite": "\(path)", "tables": "\(DemoDatabase.tables.count)",
                        "rows_per_table": "\(DemoDatabase.rowsPerTable)", "benchmark_keys": "\(benchmarkKeys)",
                    ]
                )
            }
        } catch {
            printErrors(["cannot open database sqlite:\(path): \(error.message)"])
            throw ExitCode(1)
        }
        let threadPool = NIOThreadPool(numberOfThreads: configuration.backendThreads)
        threadPool.start()
        let adapter = BlockingBackendAdapter(backend, threadPool: threadPool, now: SystemClock().monotonicNanoseconds)
        return OpenedDatabase(adapter: adapter, threadPool: threadPool)
    }

    private static func openPostgres(
        _ url: PostgresURL, _ configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, logger: Logger
    ) async throws -> OpenedDatabase {
        let backend: PostgresBackend
        do {
            backend = try PostgresBackend(
                url: url, configuration: postgresConfiguration(configuration), eventLoopGroup: group, logger: logger,
                now: SystemClock().monotonicNanoseconds)
        } catch {
            printErrors(["cannot use database \(url.redacted): \(error.message)"])
            throw ExitCode(1)
        }
        if let problem = await backend.connectionProblem(on: group.next()) {
            backend.close()
            printErrors(["cannot reach database \(url.redacted): \(problem)"])
            throw ExitCode(1)
        }
        let sizes = postgresConfiguration(configuration).poolSizes
        logger.info(
            "database opened",
            metadata: [
                "postgres": "\(url.redacted)",
                "pools": "loads \(sizes.loads), client_reads \(sizes.clientReads), writes \(sizes.writes)",
            ])
        return OpenedDatabase(adapter: backend, threadPool: nil)
    }

    /// The server's database options as the PostgreSQL backend takes them.
    static func postgresConfiguration(_ configuration: ServerConfiguration) -> PostgresBackend.Configuration {
        var postgres = PostgresBackend.Configuration()
        postgres.minimumConnections = configuration.databasePoolMinimum
        postgres.maximumConnections = configuration.databasePoolMaximum
        postgres.acquireTimeout = configuration.databaseAcquireTimeout
        postgres.clientReadTimeout = configuration.databaseTimeout
        postgres.statementTimeout = configuration.databaseStatementTimeout
        postgres.maxResultBytes = configuration.maxResultSize
        postgres.maxConnectionAge = configuration.databaseMaxConnectionAge
        postgres.idleTimeout = configuration.databaseIdleTimeout
        return postgres
    }
}
