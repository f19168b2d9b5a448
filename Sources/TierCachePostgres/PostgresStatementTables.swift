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
    /// The tables in a statement's plan: all it reads, and those it modifies (an `INSERT`, `UPDATE`, `DELETE` or
    /// `MERGE` target, also inside a CTE). Triggers' writes are not in a plan.
    struct Tables: Equatable, Sendable {
        var read: Set<String> = []
        var written: Set<String> = []
    }

    static func tables(
        of sql: String, parameterCount: Int, client: PostgresClient, logger: Logger
    ) async throws(BackendError) -> Tables {
        let arguments = Array(repeating: "NULL", count: parameterCount).joined(separator: ", ")
        let name = "tiercache_inspect"
        do {
            return try await client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: logger)
                do {
                    _ = try await connection.query("SET LOCAL plan_cache_mode = force_generic_plan", logger: logger)
                    _ = try await connection.query(
                        PostgresQuery(unsafeSQL: "PREPARE \(name) AS \(sql)"), logger: logger)
                    let explained = try await connection.query(
                        PostgresQuery(
                            unsafeSQL: "EXPLAIN (FORMAT JSON) EXECUTE \(name)"
                                + (parameterCount > 0 ? "(\(arguments))" : "")),
                        logger: logger)
                    var plan = ""
                    for try await row in explained {
                        for cell in row {
                            if case .text(let bytes) = try PostgresCellValue.value(of: cell) {
                                plan += String(decoding: bytes, as: UTF8.self)
                            }
                        }
                    }
                    _ = try await connection.query(PostgresQuery(unsafeSQL: "DEALLOCATE \(name)"), logger: logger)
                    _ = try await connection.query("ROLLBACK", logger: logger)
                    return try relations(inPlan: plan)
                } catch {
                    // Whatever failed, the connection goes back clean: the failure aborted the transaction, and a
                    // prepared statement outlives it (PREPARE is not transactional), so roll back first, then drop
                    // it (an error if it never prepared, which is fine).
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    _ = try? await connection.query(PostgresQuery(unsafeSQL: "DEALLOCATE \(name)"), logger: logger)
                    throw error
                }
            }
        } catch let error as BackendError {
            throw error
        } catch {
            throw PostgresStatements.backendError(error)
        }
    }

    /// Every "Relation Name" in an `EXPLAIN (FORMAT JSON)` plan; a `ModifyTable` node's is also written.
    static func relations(inPlan json: String) throws(BackendError) -> Tables {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else {
            throw BackendError(.failed, "PostgreSQL's plan is not the JSON EXPLAIN gives")
        }
        var found = Tables()
        var pending: [Any] = [parsed]
        while let next = pending.popLast() {
            if let object = next as? [String: Any] {
                if let relation = object["Relation Name"] as? String {
                    found.read.insert(relation)
                    if object["Node Type"] as? String == "ModifyTable" { found.written.insert(relation) }
                }
                pending.append(contentsOf: object.values)
            } else if let array = next as? [Any] {
                pending.append(contentsOf: array)
            }
        }
        return found
    }
}
