import Foundation
import Logging
import PostgresNIO
import TierCacheBackend

/// The tables a statement reads and modifies, as PostgreSQL plans it: views are already expanded into their base
/// tables, and CTEs and subqueries are parts of the plan. Asked once per statement (the caller caches it):
/// prepared, then explained as a generic plan, so no parameter value can fold a scan away (PostgreSQL 15 has no
/// `EXPLAIN (GENERIC_PLAN)`). All in a transaction that is rolled back, and the prepared statement is dropped, so
/// the pooled connection is left as it was.
///
/// Tables a function or trigger reads or writes inside its body are not in the plan, and so not found. A statement
/// PostgreSQL cannot prepare (a utility statement: DDL, `COPY`, `SET`, …) fails here with 42601.
enum PostgresStatementTables {
    /// What PostgreSQL's plan of a statement says: the tables in it, all it reads and those it modifies (an
    /// `INSERT`, `UPDATE`, `DELETE` or `MERGE` target, also inside a CTE; triggers' writes are not in a plan), and
    /// the parameters' types as PostgreSQL inferred them (`integer`, `text`, …), one per `$n`.
    struct Tables: Equatable, Sendable {
        var read: Set<String> = []
        var written: Set<String> = []
        /// The written tables whose rows are updated or deleted: their foreign keys may cascade.
        var updatedOrDeleted: Set<String> = []
        var parameterTypes: [String] = []
        /// The plan's conditions as PostgreSQL prints them (`(id = $1)`), to see how parameters meet data.
        var conditions: [String] = []
        /// Names of the functions the plan calls, lower-cased (`PostgresStatementRules.calledNames`), with the
        /// keywords that read like calls.
        var functions: Set<String> = []
    }

    /// Prepares `sql` on `connection` (which it leaves as it found it) and reads its generic plan.
    static func tables(of sql: String, on connection: PostgresConnection, logger: Logger) async throws(BackendError)
        -> Tables
    {
        let name = "tiercache_inspect"
        do {
            _ = try await connection.checkedQuery("BEGIN", logger: logger)
            do {
                _ = try await connection.checkedQuery("SET LOCAL plan_cache_mode = force_generic_plan", logger: logger)
                _ = try await connection.checkedQuery(
                    PostgresQuery(unsafeSQL: "PREPARE \(name) AS \(sql)"), logger: logger)
                var parameterTypes: [String] = []
                let types = try await connection.checkedQuery(
                    """
                    SELECT t.type::regtype::text FROM pg_prepared_statements p,
                        unnest(p.parameter_types) WITH ORDINALITY AS t(type, position)
                    WHERE p.name = \(name) ORDER BY t.position
                    """, logger: logger)
                for try await type in types.decode(String.self) { parameterTypes.append(type) }
                let arguments = Array(repeating: "NULL", count: parameterTypes.count).joined(separator: ", ")
                let explained = try await connection.checkedQuery(
                    PostgresQuery(
                        unsafeSQL: "EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE \(name)"
                            + (parameterTypes.isEmpty ? "" : "(\(arguments))")),
                    logger: logger)
                var plan = ""
                for try await row in explained {
                    for cell in row {
                        if case .text(let bytes) = try PostgresCellValue.value(of: cell) {
                            plan += String(decoding: bytes, as: UTF8.self)
                        }
                    }
                }
                _ = try await connection.checkedQuery(PostgresQuery(unsafeSQL: "DEALLOCATE \(name)"), logger: logger)
                _ = try await connection.checkedQuery("ROLLBACK", logger: logger)
                var tables = try relations(inPlan: plan)
                tables.parameterTypes = parameterTypes
                return tables
            } catch {
                // Whatever failed, the connection goes back clean: the failure aborted the transaction, and a
                // prepared statement outlives it (PREPARE is not transactional), so roll back first, then drop
                // it (an error if it never prepared, which is fine).
                _ = try? await connection.checkedQuery("ROLLBACK", logger: logger)
                _ = try? await connection.checkedQuery(PostgresQuery(unsafeSQL: "DEALLOCATE \(name)"), logger: logger)
                throw error
            }
        } catch let error as BackendError {
            throw error
        } catch {
            throw PostgresStatements.backendError(error)
        }
    }

    /// The functions a utility statement that runs a query calls (`CREATE TABLE … AS`, `CREATE MATERIALIZED VIEW`):
    /// from its plan, explained without running it, in a transaction rolled back. Empty for a statement EXPLAIN
    /// does not take (most utility statements), or when explaining fails: running it reports the problem.
    static func explainedFunctions(of sql: String, on connection: PostgresConnection, logger: Logger) async
        -> Set<String>
    {
        do {
            _ = try await connection.checkedQuery("BEGIN", logger: logger)
            let explained = try await connection.checkedQuery(
                PostgresQuery(unsafeSQL: "EXPLAIN (VERBOSE, FORMAT JSON) \(sql)"), logger: logger)
            var plan = ""
            for try await row in explained {
                for cell in row {
                    if case .text(let bytes) = try PostgresCellValue.value(of: cell) {
                        plan += String(decoding: bytes, as: UTF8.self)
                    }
                }
            }
            _ = try await connection.checkedQuery("ROLLBACK", logger: logger)
            return (try? relations(inPlan: plan))?.functions ?? []
        } catch {
            _ = try? await connection.checkedQuery("ROLLBACK", logger: logger)
            return []
        }
    }

    /// The plan nodes' fields that hold conditions.
    private static let conditionKeys = [
        "Index Cond", "Filter", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "TID Cond", "One-Time Filter",
    ]

    /// The tables a write to `tables` may change besides them, and whether it may change tables no catalog can name:
    /// foreign keys that cascade (`ON DELETE CASCADE`, `SET NULL`, `SET DEFAULT`) change the referencing tables,
    /// and so on down; a user's trigger on any of them may do anything (TierCache's own notification triggers,
    /// named `tiercache_…`, write nothing).
    static func reach(
        of tables: Tables, on connection: PostgresConnection, logger: Logger
    ) async throws(BackendError) -> (tables: Set<String>, triggers: Bool) {
        guard !tables.written.isEmpty else { return ([], false) }
        let names = Array(tables.written)
        let cascading = Array(tables.updatedOrDeleted)
        do {
            let rows = try await connection.checkedQuery(
                """
                WITH RECURSIVE written(oid, cascades) AS (
                    SELECT c.oid, lower(c.relname) = ANY(\(cascading)) FROM pg_class c
                    WHERE lower(c.relname) = ANY(\(names)) AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)
                    UNION
                    SELECT k.conrelid, true FROM pg_constraint k JOIN written w ON k.confrelid = w.oid
                    WHERE w.cascades AND k.contype = 'f'
                        AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))
                )
                SELECT lower(c.relname), EXISTS (
                    SELECT 1 FROM pg_trigger t
                    WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgname NOT LIKE 'tiercache\\_%'
                )
                FROM written w JOIN pg_class c ON c.oid = w.oid
                """, logger: logger)
            var reached = tables.written
            var triggers = false
            for try await (name, triggered) in rows.decode((String, Bool).self) {
                reached.insert(name)
                triggers = triggers || triggered
            }
            return (reached, triggers)
        } catch {
            throw PostgresStatements.backendError(error)
        }
    }

    /// Every "Relation Name" (lower-cased, as the backend reports tables) in an `EXPLAIN (FORMAT JSON)` plan, with
    /// the conditions; a `ModifyTable` node's relation is also written.
    static func relations(inPlan json: String) throws(BackendError) -> Tables {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else {
            throw BackendError(.failed, "PostgreSQL's plan is not the JSON EXPLAIN gives")
        }
        var found = Tables()
        var pending: [Any] = [parsed]
        while let next = pending.popLast() {
            if let object = next as? [String: Any] {
                for key in conditionKeys {
                    if let condition = object[key] as? String { found.conditions.append(condition) }
                }
                if let function = object["Function Name"] as? String { found.functions.insert(function.lowercased()) }
                if let relation = (object["Relation Name"] as? String)?.lowercased() {
                    found.read.insert(relation)
                    if object["Node Type"] as? String == "ModifyTable" {
                        found.written.insert(relation)
                        // An INSERT … ON CONFLICT DO UPDATE updates too.
                        if object["Operation"] as? String != "Insert" || object["Conflict Resolution"] != nil {
                            found.updatedOrDeleted.insert(relation)
                        }
                    }
                }
                pending.append(contentsOf: object.values)
            } else if let array = next as? [Any] {
                pending.append(contentsOf: array)
            } else if let text = next as? String, text.contains("(") {
                // Output lists, conditions, function calls: every expression the plan prints.
                found.functions.formUnion(PostgresStatementRules.calledNames(in: text))
            }
        }
        return found
    }
}
