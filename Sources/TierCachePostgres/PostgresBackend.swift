import Logging
import NIOCore
import PostgresNIO
import Synchronization
import TierCacheBackend
import TierCacheSupport

/// PostgreSQL as a `BackendAdapter`, through postgres-nio: non-blocking, every call a task whose future completes
/// on the call's event loop; no thread waits on the database.
///
/// Three pools (`Configuration.poolSizes`): the policies' loads and clients' QUERY statements each on connections
/// opened read-only (`default_transaction_read_only`), so PostgreSQL itself refuses a write there (`25006`,
/// `-READONLY`), with `statement_timeout` set per pool; writes and transactions on the third. What a statement
/// reads and writes comes from its plan, found once (`PostgresStatementPlans`). `?` placeholders are numbered
/// `$n` here, so one policy file serves SQLite and PostgreSQL.
public final class PostgresBackend: BackendAdapter {
    public let url: PostgresURL
    /// The cache's loads: connections on the event loops, futures only (`PostgresLoopPool`).
    let loads: PostgresLoopPool
    let clientReads: PostgresPool
    let writes: PostgresPool
    let plans: PostgresStatementPlans
    /// The writer connections' backend process ids, for the listener to know TierCache's own notifications.
    private let ownBackends = PostgresBackendIDs()
    private let listener: PostgresChangeListener
    private let configuration: Configuration
    private let logger: Logger
    /// Monotonic nanoseconds, for `BackendCall.begin(now:)`.
    private let now: @Sendable () -> UInt64
    private let closed = Atomic<Bool>(false)
    /// Runs the pools (postgres-nio's clients work while their `run()` does); cancelled by `close()`.
    private let runner = Mutex<Task<Void, Never>?>(nil)

    /// Starts the pools; connections open as calls need them (and `minimumConnections` at once, in the
    /// background). A server that cannot be reached shows as failing calls and health checks, not here.
    public init(
        url: PostgresURL, configuration: Configuration = .init(), eventLoopGroup: any EventLoopGroup,
        logger: Logger, now: @escaping @Sendable () -> UInt64
    ) throws(BackendError) {
        try configuration.validate()
        let sizes = configuration.poolSizes
        func startupParameters(readOnly: Bool, timeout: Duration?) -> [(String, String)] {
            let milliseconds =
                timeout.map { max(1, $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) }
                ?? 0
            return (readOnly ? [("default_transaction_read_only", "on")] : []) + [
                ("statement_timeout", "\(milliseconds)")
            ]
        }
        func pool(_ name: String, size: Int, minimum: Int, readOnly: Bool, timeout: Duration?) -> PostgresPool {
            var client = url.clientConfiguration
            client.options.maximumConnections = size
            client.options.minimumConnections = minimum
            client.options.connectionIdleTimeout = configuration.idleTimeout
            client.options.connectTimeout = configuration.connectTimeout
            client.options.keepAliveBehavior = configuration.keepAliveInterval.map { .init(frequency: $0) }
            client.options.additionalStartupParameters += startupParameters(readOnly: readOnly, timeout: timeout)
            return PostgresPool(
                name: name, configuration: client, eventLoopGroup: eventLoopGroup,
                acquireTimeout: configuration.acquireTimeout, maxConnectionAge: configuration.maxConnectionAge,
                logger: logger)
        }
        self.url = url
        self.configuration = configuration
        self.logger = logger
        self.now = now
        var loadsConfiguration: PostgresConnection.Configuration
        do {
            loadsConfiguration = try url.connectionConfiguration()
        } catch {
            throw BackendError(.failed, "cannot set up TLS for PostgreSQL: \(error)")
        }
        loadsConfiguration.options.connectTimeout = .nanoseconds(
            Int64(clamping: configuration.connectTimeout.wholeNanoseconds))
        loadsConfiguration.options.additionalStartupParameters += startupParameters(
            readOnly: true, timeout: configuration.statementTimeout)
        self.loads = PostgresLoopPool(
            name: "loads", configuration: loadsConfiguration, connector: configuration.keepaliveConnector,
            maximumConnections: sizes.loads,
            eventLoopCount: Array(eventLoopGroup.makeIterator()).count, acquireTimeout: configuration.acquireTimeout,
            maxConnectionAge: configuration.maxConnectionAge, logger: logger)
        self.clientReads = pool(
            "client_reads", size: sizes.clientReads, minimum: 0, readOnly: true,
            timeout: configuration.clientReadTimeout)
        self.writes = pool(
            "writes", size: sizes.writes, minimum: 0, readOnly: false, timeout: configuration.statementTimeout)
        self.plans = PostgresStatementPlans(logger: logger)
        self.listener = PostgresChangeListener(
            url: url, eventLoopGroup: eventLoopGroup, connector: configuration.keepaliveConnector, logger: logger,
            ownBackends: ownBackends)
        // `minimumConnections` of the loads pool opened now, in the background (a failure shows at the first load).
        for _ in 0..<min(configuration.minimumConnections, sizes.loads) {
            _ = loads.withConnection(on: eventLoopGroup.next()) { $0.connection.eventLoop.makeSucceededVoidFuture() }
        }
        let clients = [clientReads.client, writes.client]
        runner.withLock {
            $0 = Task {
                await withDiscardingTaskGroup { group in
                    for client in clients { group.addTask { await client.run() } }
                }
            }
        }
    }

    public func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin, call: BackendCall)
        -> EventLoopFuture<ReadResult>
    {
        // A policy's load with a known plan (every one after the first): on the event loop, futures only.
        if origin == .policy, let plan = plans.known(sql) {
            return load(plan, parameters: parameters, call: call, retries: (0, 0))
        }
        return call.eventLoop.makeFutureWithTask {
            try await self.read(sql, parameters: parameters, origin: origin, call: call)
        }
    }

    /// A policy's load on the loads pool, retried as `read(_:parameters:origin:call:)` says.
    private func load(
        _ plan: PostgresStatementPlan, parameters: [SQLValue], call: BackendCall,
        retries: (conflicts: Int, lostConnections: Int)
    ) -> EventLoopFuture<ReadResult> {
        let eventLoop = call.eventLoop
        guard !closed.load(ordering: .relaxed) else {
            return eventLoop.makeFailedFuture(BackendError(.unavailable, "the PostgreSQL backend is closed"))
        }
        guard case .planned(let planned) = plan.kind else { return eventLoop.makeFailedFuture(Self.notAQuery(plan)) }
        do {
            try plan.check(parameters)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let (logger, now, limit) = (self.logger, self.now, configuration.maxResultBytes)
        return loads.withConnection(on: eventLoop) { lease in
            call.begin(now: now())
            return PostgresStatements.rows(on: lease.connection, maxResultBytes: limit) { onRow in
                lease.execute(
                    plan.sql, parameters: parameters, types: planned.parameterTypes, logger: logger, onRow: onRow)
            }
        }.map { rows in
            ReadResult(resultSet: rows, tablesRead: planned.tablesRead)
        }.flatMapError { error in
            var retries = retries
            if PostgresStatements.isConnectionLost(error), retries.lostConnections < self.loads.maximumConnections {
                retries.lostConnections += 1
            } else if Self.isConflict(error), retries.conflicts == 0 {
                retries.conflicts += 1
            } else {
                return eventLoop.makeFailedFuture(PostgresStatements.backendError(error))
            }
            return self.load(plan, parameters: parameters, call: call, retries: retries)
        }
    }

    /// A read on its origin's pool, retried once when PostgreSQL says to try again (a serialization failure, a
    /// deadlock), and on another connection when its connection turned out closed (a terminated backend, a
    /// restarted server): reads change nothing, so running one twice is safe.
    private func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin, call: BackendCall)
        async throws(BackendError) -> ReadResult
    {
        try checkOpen()
        let plan = try await plans.plan(for: sql, in: origin == .policy ? writes : clientReads)
        if origin == .policy {
            do {
                return try await load(plan, parameters: parameters, call: call, retries: (0, 0)).get()
            } catch {
                throw PostgresStatements.backendError(error)
            }
        }
        let pool = clientReads
        guard case .planned(let planned) = plan.kind else { throw Self.notAQuery(plan) }
        try plan.check(parameters)
        let (logger, now, limit) = (self.logger, self.now, configuration.maxResultBytes)
        // Each lost connection is closed as it fails, so enough retries reach a new one even after a restart of
        // the server killed every connection of the pool.
        var retries = (conflicts: 0, lostConnections: 0)
        while true {
            do {
                return try await pool.withConnection { connection in
                    call.begin(now: now())
                    let rows = try await PostgresStatements.rows(
                        plan.sql, parameters: parameters, on: connection, logger: logger, maxResultBytes: limit)
                    return ReadResult(resultSet: rows, tablesRead: planned.tablesRead)
                }
            } catch {
                if PostgresStatements.isConnectionLost(error), retries.lostConnections < pool.maximumConnections {
                    retries.lostConnections += 1
                } else if Self.isConflict(error), retries.conflicts == 0 {
                    retries.conflicts += 1
                } else {
                    throw PostgresStatements.backendError(error)
                }
            }
        }
    }

    public func write(_ sql: String, parameters: [SQLValue], call: BackendCall) -> EventLoopFuture<WriteResult> {
        call.eventLoop.makeFutureWithTask {
            try self.checkOpen()
            let plan = try await self.plans.plan(for: sql, in: self.writes)
            try plan.check(parameters)
            let now = self.now
            do {
                return try await self.writes.withConnection { connection in
                    try await self.ownBackends.learn(connection, logger: self.logger)
                    call.begin(now: now())
                    return try await self.write(plan, parameters: parameters, on: connection, inTransaction: false)
                }
            } catch {
                throw PostgresStatements.backendError(error)
            }
        }
    }

    /// Runs `plan` on `connection`: what it wrote from its plan; a statement whose plan writes nothing asks
    /// PostgreSQL whether it wrote after all (a function it calls may), and a utility statement may have
    /// changed anything.
    private func write(
        _ plan: PostgresStatementPlan, parameters: [SQLValue], on connection: PostgresConnection, inTransaction: Bool
    ) async throws(BackendError) -> WriteResult {
        let logger = self.logger
        switch plan.kind {
        case .utility where inTransaction:
            // It might end the transaction half-way (COMMIT), leaving the rest to run outside it: not run at all.
            throw BackendError(
                .notAllowed,
                "statements PostgreSQL cannot prepare (DDL, transaction control, SET …) do not run inside MULTI/EXEC")
        case .utility:
            _ = try await PostgresStatements.changes(plan.sql, parameters: parameters, on: connection, logger: logger)
            plans.removeAll()
            try await Self.resetSession(connection, logger: logger)
            return WriteResult(changes: 0, tablesWritten: [], isReadOnly: false)
        case .planned(let planned) where !planned.tablesWritten.isEmpty:
            let changes = try await PostgresStatements.changes(
                plan.sql, parameters: parameters, on: connection, logger: logger)
            // A user's trigger may write any table: an empty list with `isReadOnly` false drops every entry.
            let written = planned.writesThroughTriggers ? [] : planned.tablesWritten
            return WriteResult(changes: changes, tablesWritten: written, isReadOnly: false)
        case .planned:
            let wrote: Bool
            let changes: Int
            if inTransaction {
                let before = try await Self.hasTransactionID(connection, logger: logger)
                changes = try await PostgresStatements.changes(
                    plan.sql, parameters: parameters, on: connection, logger: logger)
                // A transaction that had written before can't tell: take it as written.
                let after = try await Self.hasTransactionID(connection, logger: logger)
                wrote = before || after
            } else {
                _ = try await Self.command("BEGIN", on: connection, logger: logger)
                do {
                    changes = try await PostgresStatements.changes(
                        plan.sql, parameters: parameters, on: connection, logger: logger)
                    wrote = try await Self.hasTransactionID(connection, logger: logger)
                    try await Self.commit(on: connection, logger: logger)
                } catch {
                    _ = try? await Self.command("ROLLBACK", on: connection, logger: logger)
                    throw error
                }
            }
            return WriteResult(changes: changes, tablesWritten: [], isReadOnly: !wrote)
        }
    }

    /// Drives `script` on one connection of the writes pool in a serializable transaction, one statement per
    /// round trip: a `WATCH`ed row read in it cannot change before the commit without the commit failing
    /// (`40001`, nothing written), as SQLite's write lock held from `BEGIN IMMEDIATE` ensures there.
    public func transaction<Script: TransactionScript>(_ script: Script, call: BackendCall)
        -> EventLoopFuture<Script.Output>
    {
        let eventLoop = call.eventLoop
        return eventLoop.makeFutureWithTask {
            try self.checkOpen()
            let (logger, now, limit) = (self.logger, self.now, self.configuration.maxResultBytes)
            // Plans first, on the writes pool: inspecting takes a connection of its own.
            return try await self.writes.withConnection { connection in
                try await self.ownBackends.learn(connection, logger: logger)
                call.begin(now: now())
                _ = try await Self.command("BEGIN ISOLATION LEVEL SERIALIZABLE", on: connection, logger: logger)
                do {
                    return try await TransactionDriver.drive(
                        script, on: eventLoop,
                        run: { statement in
                            eventLoop.makeFutureWithTask {
                                try await self.run(statement, inTransactionOn: connection, maxResultBytes: limit)
                            }
                        },
                        end: { commit in
                            eventLoop.makeFutureWithTask {
                                if commit {
                                    try await Self.commit(on: connection, logger: logger)
                                } else {
                                    _ = try await Self.command("ROLLBACK", on: connection, logger: logger)
                                }
                            }
                        }
                    ).get()
                } catch {
                    // Whatever failed, the connection goes back with no transaction open.
                    _ = try? await Self.command("ROLLBACK", on: connection, logger: logger)
                    throw PostgresStatements.backendError(error)
                }
            }
        }
    }

    /// One statement of a transaction, on its connection. (A method rather than the closure's body: Swift 6.3's
    /// optimizer crashed splitting that closure's coroutine in release builds.)
    private func run(
        _ statement: TransactionStatement, inTransactionOn connection: PostgresConnection, maxResultBytes: Int
    ) async throws(BackendError) -> TransactionStatementResult {
        // A statement seen for the first time is inspected on the QUERY pool: this transaction holds a writes
        // connection already, and two transactions each waiting for a second one would both time out.
        switch statement {
        case .read(let sql, let parameters):
            let plan = try await plans.plan(for: sql, in: clientReads)
            guard case .planned(let planned) = plan.kind else { throw Self.notAQuery(plan) }
            try plan.check(parameters)
            return .read(
                try await Self.readInTransaction(
                    plan, planned, parameters: parameters, on: connection, logger: logger,
                    maxResultBytes: maxResultBytes))
        case .write(let sql, let parameters):
            let plan = try await plans.plan(for: sql, in: clientReads)
            try plan.check(parameters)
            return .written(try await write(plan, parameters: parameters, on: connection, inTransaction: true))
        }
    }

    /// A read inside a transaction, whose connection is not read-only: in a subtransaction made read-only
    /// (`SET LOCAL transaction_read_only`, undone by rolling back to its savepoint, which keeps the transaction's
    /// own writes), so PostgreSQL refuses a write there as on the read-only pools, a function's included.
    private static func readInTransaction(
        _ plan: PostgresStatementPlan, _ planned: PostgresStatementPlan.Planned, parameters: [SQLValue],
        on connection: PostgresConnection, logger: Logger, maxResultBytes: Int
    ) async throws(BackendError) -> ReadResult {
        guard planned.tablesWritten.isEmpty else {
            throw BackendError(.notReadOnly, "the statement may write; a read must not")
        }
        _ = try await command("SAVEPOINT tiercache_read", on: connection, logger: logger)
        _ = try await command("SET LOCAL transaction_read_only = on", on: connection, logger: logger)
        let rows: Result<ResultSet, BackendError>
        do {
            rows = .success(
                try await PostgresStatements.rows(
                    plan.sql, parameters: parameters, on: connection, logger: logger, maxResultBytes: maxResultBytes))
        } catch {
            rows = .failure(error)
        }
        _ = try await command("ROLLBACK TO SAVEPOINT tiercache_read", on: connection, logger: logger)
        _ = try await command("RELEASE SAVEPOINT tiercache_read", on: connection, logger: logger)
        return ReadResult(resultSet: try rows.get(), tablesRead: planned.tablesRead)
    }

    /// Inspects `sql` afresh (a policy load or reload: triggers or views may have changed since).
    public func inspect(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<StatementInfo> {
        eventLoop.makeFutureWithTask {
            try self.checkOpen()
            let plan = try await self.plans.refresh(sql, in: self.writes)
            if case .utility(let message) = plan.kind {
                throw BackendError(
                    .invalidStatement,
                    "\(message) (PostgreSQL prepares SELECT, VALUES, INSERT, UPDATE, DELETE and MERGE statements)")
            }
            return plan.info
        }
    }

    public func comparesParametersExactly(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        eventLoop.makeFutureWithTask {
            guard let plan = try? await self.plans.plan(for: sql, in: self.writes),
                case .planned(let planned) = plan.kind
            else { return false }
            return planned.comparesParametersExactly
        }
    }

    /// Other programs' commits, heard on a connection of its own (`PostgresChangeListener`).
    public var changeFeed: (any DatabaseChangeFeed)? { listener }

    public var pools: [(name: String, report: ConnectionPoolReport)] {
        [(loads.name, loads.report), (clientReads.name, clientReads.report), (writes.name, writes.report)]
    }

    /// Asks the server, on a connection of the writes pool, whether it is a primary: a standby (after a failover
    /// gone wrong) answers reads and refuses every write.
    public func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<BackendHealthCheck> {
        eventLoop.makeFutureWithTask {
            let logger = self.logger
            do {
                let standby = try await self.writes.withConnection { connection in
                    let rows = try await connection.checkedQuery("SELECT pg_is_in_recovery()", logger: logger)
                    var standby = false
                    for try await value in rows.decode(Bool.self) { standby = value }
                    return standby
                }
                return BackendHealthCheck(
                    problem: standby ? "PostgreSQL at \(self.url.redacted) is a standby: writes will fail" : nil)
            } catch {
                return BackendHealthCheck(problem: PostgresStatements.backendError(error).message)
            }
        }
    }

    /// Why a connection to the server cannot be opened (refused, unknown host, authentication failed, no such
    /// database), or nil when one opens: one connection of its own, so the pools' waiting and retrying don't hide
    /// the server's answer. For start-up, before anything is served.
    public func connectionProblem(on eventLoop: any EventLoop) async -> String? {
        do {
            let connection = try await configuration.keepaliveConnector.connect(
                on: eventLoop, configuration: try url.connectionConfiguration(), id: 0, logger: logger
            ).get()
            try? await connection.close()
            return nil
        } catch {
            return PostgresStatements.backendError(error).message
        }
    }

    /// Stops the pools: every statement running now fails as its connection closes, and later calls fail.
    public func interruptAll() {
        close()
    }

    /// Once: `interruptAll()` closes while the event loops run, and the `close()` after they stopped must not
    /// schedule on them again.
    public func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        loads.close()
        runner.withLock { $0?.cancel() }
    }

    private func checkOpen() throws(BackendError) {
        if closed.load(ordering: .relaxed) { throw BackendError(.unavailable, "the PostgreSQL backend is closed") }
    }

    /// A read given a statement without a plan: `-READONLY` for DDL and the like; a query with a typo keeps
    /// PostgreSQL's syntax error.
    static func notAQuery(_ plan: PostgresStatementPlan) -> BackendError {
        guard case .utility(let message) = plan.kind else { return BackendError(.failed, "not a utility statement") }
        let first = plan.sql.drop { $0.isWhitespace || $0 == "(" }.prefix { $0.isLetter }.lowercased()
        if ["select", "with", "values", "table"].contains(first) { return BackendError(.invalidStatement, message) }
        return BackendError(.notReadOnly, "not a query PostgreSQL can plan, so not read-only: \(message)")
    }

    /// A serialization failure or deadlock: PostgreSQL's advice is to run it again.
    static func isConflict(_ error: any Error) -> Bool {
        let message = PostgresStatements.backendError(error).message
        return message.hasPrefix("40001 ") || message.hasPrefix("40P01 ")
    }

    /// Runs a command without parameters and returns its command tag (`COMMIT`, `ROLLBACK`, …).
    static func command(_ sql: String, on connection: PostgresConnection, logger: Logger) async throws(BackendError)
        -> String
    {
        do {
            let query = PostgresQuery(unsafeSQL: sql)
            return try await connection.checkedQuery(query, logger: logger) { _ in }.get().command
        } catch {
            throw PostgresStatements.backendError(error)
        }
    }

    /// `COMMIT`, which PostgreSQL answers with `ROLLBACK` (and no error) when the transaction had failed.
    static func commit(on connection: PostgresConnection, logger: Logger) async throws(BackendError) {
        let tag = try await command("COMMIT", on: connection, logger: logger)
        guard tag == "COMMIT" else { throw BackendError(.failed, "the transaction was rolled back, not committed") }
    }

    /// Puts a pooled connection back as it was opened after a utility statement, which may have changed its
    /// session (`SET`, `LISTEN`, `PREPARE`, a temporary table: `DISCARD ALL` undoes them, keeping the connection's
    /// start-up settings). One that opened a transaction (`BEGIN`) is rolled back and refused.
    static func resetSession(_ connection: PostgresConnection, logger: Logger) async throws(BackendError) {
        do {
            _ = try await command("DISCARD ALL", on: connection, logger: logger)
        } catch let error where error.message.hasPrefix("25001 ") {
            _ = try? await command("ROLLBACK", on: connection, logger: logger)
            throw BackendError(
                .invalidStatement,
                "transaction statements are not supported: each call already runs as its own transaction")
        }
    }

    /// Whether the connection's transaction has written (PostgreSQL gave it a transaction id).
    static func hasTransactionID(_ connection: PostgresConnection, logger: Logger) async throws(BackendError) -> Bool {
        do {
            let rows = try await connection.checkedQuery(
                "SELECT txid_current_if_assigned() IS NOT NULL", logger: logger)
            var assigned = false
            for try await value in rows.decode(Bool.self) { assigned = value }
            return assigned
        } catch {
            throw PostgresStatements.backendError(error)
        }
    }
}
