import Logging
import NIOCore
import PostgresNIO
import TierCacheBackend

/// Statements on a connection (or a `PostgresClient`'s pool), their parameters bound for PostgreSQL to type and
/// their rows in the backend's own values. What PostgreSQL answers is told apart by its SQLSTATE (`BackendError`),
/// so the server can tell a client's mistake (`22P02` for `GET users:abc` against an integer key) from the
/// database's failure.
struct PostgresStatements: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// The largest result a statement may return (`ResultSize`): past it the statement fails with
    /// `resultTooLarge` at the row that crosses it, before the rest reach memory.
    let maxResultBytes: Int

    /// Runs `sql` (PostgreSQL's `$n` placeholders) with `parameters` on a connection of the pool.
    func rows(_ sql: String, parameters: [SQLValue]) async throws(BackendError) -> ResultSet {
        do {
            return try await client.withConnection { connection in
                try await Self.rows(
                    sql, parameters: parameters, on: connection, logger: logger, maxResultBytes: maxResultBytes)
            }
        } catch let error as BackendError {
            throw error
        } catch {
            throw Self.backendError(error)
        }
    }

    /// Runs `sql` with `parameters` on `connection` and returns its rows; past `maxResultBytes` it fails with
    /// `resultTooLarge` at the row that crosses the limit, before the rest reach memory.
    static func rows(
        _ sql: String, parameters: [SQLValue], on connection: PostgresConnection, logger: Logger, maxResultBytes: Int
    ) async throws(BackendError) -> ResultSet {
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings(parameters))
        do {
            let sequence = try await connection.checkedQuery(query, logger: logger)
            var columns: [String]?
            var rows: [[SQLValue]] = []
            var size = ResultSize(limit: maxResultBytes)
            for try await row in sequence {
                var values: [SQLValue] = []
                values.reserveCapacity(row.count)
                var names: [String] = []
                for cell in row {
                    values.append(try PostgresCellValue.value(of: cell))
                    if columns == nil { names.append(cell.columnName) }
                }
                if columns == nil { columns = names }
                guard size.add(values) else { throw BackendError.resultTooLarge(limit: size.limit, rows: rows.count) }
                rows.append(values)
            }
            return ResultSet(columns: columns ?? Self.columnNames(of: sequence), rows: rows)
        } catch let error as BackendError {
            throw error
        } catch {
            throw backendError(error)
        }
    }

    /// The column names of a result with no rows, as SQLite gives them. postgres-nio keeps the row description
    /// in an internal field (`_columns`, each with its `name`) and has no public way to it (1.33): read by
    /// reflection, and a test holds it to this version. Empty when the layout changes.
    static func columnNames(of sequence: PostgresRowSequence) -> [String] {
        guard let columns = Mirror(reflecting: sequence).children.first(where: { $0.label == "_columns" })?.value
        else { return [] }
        return Mirror(reflecting: columns).children.compactMap { column in
            Mirror(reflecting: column.value).children.first { $0.label == "name" }?.value as? String
        }
    }

    /// The rows of a statement `run` sends on `connection` through postgres-nio's future API (no task: the loads'
    /// path stays on the event loop), collected on the connection's loop with the same size limit. A result with no
    /// rows has no column names here (a load doesn't need them).
    static func rows(
        on connection: PostgresConnection, maxResultBytes: Int,
        _ run: (@escaping @Sendable (PostgresRow) throws -> Void) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<ResultSet> {
        let collected = NIOLoopBoundBox(
            (columns: [String]?.none, rows: [[SQLValue]](), size: ResultSize(limit: maxResultBytes)),
            eventLoop: connection.eventLoop)
        return run { row in
            var values: [SQLValue] = []
            values.reserveCapacity(row.count)
            var names: [String] = []
            let first = collected.value.columns == nil
            for cell in row {
                values.append(try PostgresCellValue.value(of: cell))
                if first { names.append(cell.columnName) }
            }
            if first { collected.value.columns = names }
            guard collected.value.size.add(values) else {
                throw BackendError.resultTooLarge(limit: maxResultBytes, rows: collected.value.rows.count)
            }
            collected.value.rows.append(values)
        }.flatMapErrorThrowing { error in
            throw backendError(error)
        }.map { _ in
            ResultSet(columns: collected.value.columns ?? [], rows: collected.value.rows)
        }
    }

    /// Runs a statement that may write on `connection` and returns the rows it changed (its command tag's count;
    /// rows it returns are read and dropped).
    static func changes(
        _ sql: String, parameters: [SQLValue], on connection: PostgresConnection, logger: Logger
    ) async throws(BackendError) -> Int {
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings(parameters))
        do {
            let metadata = try await connection.checkedQuery(query, logger: logger) { _ in }.get()
            return metadata.rows ?? 0
        } catch {
            throw backendError(error)
        }
    }

    /// A client's bytes go untyped, for PostgreSQL to type from the statement; a blob (bytes that are not UTF-8)
    /// goes as `bytea`; numbers go as their text.
    static func bindings(_ parameters: [SQLValue]) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: parameters.count)
        for parameter in parameters {
            switch parameter {
            case .null: bindings.appendNull()
            case .text(let bytes): bindings.append(PostgresParameter(bytes: bytes))
            case .integer(let value): bindings.append(PostgresParameter(bytes: Array(String(value).utf8)))
            case .real(let value): bindings.append(PostgresParameter(bytes: Array("\(value)".utf8)))
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        return bindings
    }

    /// PostgreSQL's error as a `BackendError`, by its SQLSTATE's class; the message starts with the SQLSTATE, as
    /// the client sees it (`-DBERR 22P02 invalid input syntax for type integer: "abc"`).
    static func backendError(_ error: any Error) -> BackendError {
        if let error = error as? BackendError { return error }
        // postgres-nio's older API (a prepared statement's execution) reports the server's error in its own type.
        if case .server(let response)? = error as? PostgresError, let state = response.fields[.sqlState] {
            return BackendError(code(forSQLState: state), "\(state) \(response.fields[.message] ?? "")")
        }
        if case .connectionClosed? = error as? PostgresError {
            return BackendError(.unavailable, "PostgreSQL unreachable: connection closed")
        }
        guard let error = error as? PSQLError else {
            return BackendError(.unavailable, "PostgreSQL: \(error)")
        }
        guard let state = error.serverInfo?[.sqlState] else {
            // No answer from the server: the connection failed or closed.
            return BackendError(
                .unavailable, "PostgreSQL unreachable: \(error.code)" + (error.underlying.map { " (\($0))" } ?? ""))
        }
        let message = "\(state) \(error.serverInfo?[.message] ?? "\(error.code)")"
        return BackendError(code(forSQLState: state), message)
    }

    /// Whether `error` says the connection is gone: closed by the server (`57P01` when terminated by an
    /// administrator or a fast shutdown, or with no word) or by the network.
    static func isConnectionLost(_ error: any Error) -> Bool {
        let error = backendError(error)
        return error.message.hasPrefix("57P01 ") || error.message.hasPrefix("PostgreSQL unreachable")
    }

    /// What an SQLSTATE means to the proxy: the class (its first two characters) decides, with a few exact codes.
    static func code(forSQLState state: String) -> BackendError.Code {
        switch state {
        case "25006": return .notReadOnly  // read_only_sql_transaction
        case "57014": return .interrupted  // query_canceled, statement_timeout
        case "40001", "40P01": return .busy  // serialization_failure, deadlock_detected
        case "57P01", "57P02", "57P03": return .unavailable  // the server is shutting down or starting
        default: break
        }
        switch state.prefix(2) {
        case "22": return .invalidValue  // data exception: a value does not fit the statement
        case "23": return .constraint
        case "42": return .invalidStatement  // syntax error, undefined table or column, permissions
        case "08", "53", "58", "XX": return .unavailable  // connection, resources, system, internal
        default: return .failed
        }
    }
}
