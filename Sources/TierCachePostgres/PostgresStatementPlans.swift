import Logging
import PostgresNIO
import Synchronization
import TierCacheBackend
import TierCacheSupport

/// The plans of the statements the backend has run, by their text as given (`?` or `$n`): found once per
/// statement, on a connection of the pool that will run it, and kept. A policy reload inspects its statements
/// afresh (`refresh`), and a utility statement (DDL) the backend runs forgets them all: tables, views and triggers
/// may have changed.
final class PostgresStatementPlans: Sendable {
    private let plans = Mutex<[String: PostgresStatementPlan]>([:])
    /// Past this many statements (clients' QUERY texts), the oldest knowledge is dropped all at once.
    private let capacity: Int
    private let logger: Logger

    init(capacity: Int = 4096, logger: Logger) {
        self.capacity = capacity
        self.logger = logger
    }

    /// The plan of `sql`, inspected on a connection of `pool` the first time.
    func plan(for sql: String, in pool: PostgresPool) async throws(BackendError) -> PostgresStatementPlan {
        guard !sql.utf8.contains(0) else { throw BackendError(.invalidStatement, "the SQL text contains a NUL byte") }
        if let known = plans.withLock({ $0[sql] }) { return known }
        return try await refresh(sql, in: pool)
    }

    /// The plan of `sql` when it is known already (no I/O): the loads' fast path.
    func known(_ sql: String) -> PostgresStatementPlan? {
        plans.withLock { $0[sql] }
    }

    /// Inspects `sql` again and keeps what it found.
    func refresh(_ sql: String, in pool: PostgresPool) async throws(BackendError) -> PostgresStatementPlan {
        guard !sql.utf8.contains(0) else { throw BackendError(.invalidStatement, "the SQL text contains a NUL byte") }
        let numbered = SQLPlaceholders.numbered(sql).sql
        let logger = self.logger
        let plan: PostgresStatementPlan
        do {
            plan = try await pool.withConnection { connection in
                try await Self.inspect(numbered, on: connection, logger: logger)
            }
        } catch {
            throw PostgresStatements.backendError(error)
        }
        let capacity = self.capacity
        plans.withLock { plans in
            if plans.count >= capacity { plans.removeAll(keepingCapacity: true) }
            plans[sql] = plan
        }
        return plan
    }

    /// Forgets every plan: the schema may have changed.
    func removeAll() {
        plans.withLock { $0.removeAll() }
    }

    /// Refuses a statement calling a function the catalog marks as refused (`refusedFunctionsQuery`).
    private static func checkFunctions(_ names: Set<String>, on connection: PostgresConnection, logger: Logger)
        async throws(BackendError)
    {
        guard !names.isEmpty else { return }
        var refused: [(String, String)] = []
        do {
            let rows = try await connection.checkedQuery(
                PostgresQuery(
                    unsafeSQL: PostgresStatementRules.refusedFunctionsQuery,
                    binds: {
                        var binds = PostgresBindings()
                        binds.append(names.sorted())
                        return binds
                    }()),
                logger: logger)
            for try await row in rows.decode((String, String).self) { refused.append(row) }
        } catch {
            throw PostgresStatements.backendError(error)
        }
        guard let (name, reason) = refused.min(by: { $0.0 < $1.0 }) else { return }
        throw BackendError(.notAllowed, "function \(name)() is not allowed through TierCache: \(reason)")
    }

    private static func inspect(_ sql: String, on connection: PostgresConnection, logger: Logger)
        async throws(BackendError) -> PostgresStatementPlan
    {
        let tables: PostgresStatementTables.Tables
        do {
            tables = try await PostgresStatementTables.tables(of: sql, on: connection, logger: logger)
        } catch let error where error.message.hasPrefix("42601 cannot insert multiple commands") {
            throw BackendError(.invalidStatement, "only one statement per call: \(error.message)")
        } catch let error where error.message.hasPrefix("42601 ") {
            // A syntax error in PREPARE: a statement without a plan (DDL, SET, …), or a typo, which running it
            // reports as such. Some kinds are refused (`PostgresStatementRules`); one that runs a query (CREATE
            // TABLE … AS) has its query's functions checked as a plan's are.
            if let refusal = PostgresStatementRules.utilityRefusal(sql) { throw BackendError(.notAllowed, refusal) }
            let functions = await PostgresStatementTables.explainedFunctions(of: sql, on: connection, logger: logger)
            try await checkFunctions(functions, on: connection, logger: logger)
            return PostgresStatementPlan(sql: sql, kind: .utility(message: error.message))
        }
        try await checkFunctions(tables.functions, on: connection, logger: logger)
        let reach = try await PostgresStatementTables.reach(of: tables, on: connection, logger: logger)
        let planned = PostgresStatementPlan.Planned(
            parameterTypes: tables.parameterTypes, tablesRead: tables.read,
            tablesWritten: reach.tables, writesThroughTriggers: reach.triggers,
            comparesParametersExactly: PostgresStatementPlan.comparesExactly(
                parameterTypes: tables.parameterTypes, conditions: tables.conditions))
        return PostgresStatementPlan(sql: sql, kind: .planned(planned))
    }
}
