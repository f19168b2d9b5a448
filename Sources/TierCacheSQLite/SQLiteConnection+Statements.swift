import CSQLite
import TierCacheBackend

extension SQLiteConnection {
    /// Runs a read-only statement and returns all its rows, interrupting it once it has run for `timeout`.
    ///
    /// - Parameters:
    ///   - sql: exactly one statement, which SQLite must call read-only.
    ///   - parameters: one value per placeholder, in order.
    ///   - timeout: how long it may run; nil: until the backend stops.
    func read(_ sql: String, parameters: [SQLValue], timeout: Duration?) throws(BackendError) -> ReadResult {
        let connection = try openHandle()
        let statement = try cachedStatement(for: sql, on: connection)
        try Self.refuseConnectionChange(statement)
        guard statement.isReadOnly else {
            throw BackendError(.notReadOnly, "QUERY only runs read-only statements; use SQL.EXEC to write")
        }
        guard !statement.setsPragma else {
            throw BackendError(
                .notReadOnly,
                "QUERY runs PRAGMA statements only without an argument; use a pragma_<name>() table in a SELECT"
                    + " or SQL.EXEC"
            )
        }
        let rows = try watchdog.watching(for: timeout) { () throws(BackendError) in
            try run(statement, sql: sql, parameters: parameters, on: connection, collectingRows: true)
        }
        let current = try refreshed(statement, sql: sql, on: connection)
        return ReadResult(
            resultSet: ResultSet(columns: current.columns, rows: rows),
            tablesRead: current.tablesRead
        )
    }

    /// Runs any one statement and commits it (autocommit: the statement is its own transaction), interrupting
    /// (and so rolling back) it past the statement timeout.
    ///
    /// - Parameters:
    ///   - sql: exactly one statement.
    ///   - parameters: one value per placeholder, in order.
    func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult {
        let connection = try openHandle()
        let statement = try cachedStatement(for: sql, on: connection)
        try Self.refuseConnectionChange(statement)
        guard !statement.setsPragma else {
            throw BackendError(
                .notAllowed, "PRAGMA statements that set a value are not supported: connections are shared")
        }
        let totalBefore = sqlite3_total_changes64(connection)
        _ = try watchdog.watching(for: configuration.statementTimeout) { () throws(BackendError) in
            try run(statement, sql: sql, parameters: parameters, on: connection, collectingRows: false)
        }
        // `sqlite3_changes` keeps the count of the last INSERT, UPDATE or DELETE, even when this statement was none
        // of those; the total moves only when this statement changed rows.
        let changes = sqlite3_total_changes64(connection) == totalBefore ? 0 : Int(sqlite3_changes64(connection))
        let current = try refreshed(statement, sql: sql, on: connection)
        return WriteResult(changes: changes, tablesWritten: current.tablesWritten, isReadOnly: current.isReadOnly)
    }

    /// Prepares a statement without running or caching it, and reports what SQLite said about it.
    ///
    /// A read-only connection prepares writes too (only stepping them fails), so this works on the reader.
    func inspect(_ sql: String) throws(BackendError) -> StatementInfo {
        let connection = try openHandle()
        let statement = try prepare(sql, on: connection, persistent: false)
        try Self.refuseConnectionChange(statement)
        return StatementInfo(
            isReadOnly: statement.isReadOnly && !statement.setsPragma,
            parameterCount: statement.parameterCount,
            tablesRead: statement.tablesRead,
            tablesWritten: statement.tablesWritten
        )
    }

    // MARK: - Running

    /// Binds, steps to the end and resets. Any failure evicts the statement, so the next call prepares it again.
    ///
    /// - Returns: the rows, if `collectingRows`; otherwise none.
    private func run(
        _ statement: SQLiteStatement,
        sql: String,
        parameters: [SQLValue],
        on connection: OpaquePointer,
        collectingRows: Bool
    ) throws(BackendError) -> [[SQLValue]] {
        guard parameters.count == statement.parameterCount else {
            let expected = statement.parameterCount
            throw BackendError(
                .parameterCount,
                "statement expects \(expected) parameter\(expected == 1 ? "" : "s"), got \(parameters.count)"
            )
        }
        defer { statement.reset() }
        authorizer.clearRefusal()
        var rows: [[SQLValue]] = []
        var size = ResultSize(limit: configuration.maxResultBytes)
        var code = statement.bind(parameters)
        if code == SQLITE_OK {
            while true {
                code = sqlite3_step(statement.handle)
                guard code == SQLITE_ROW else { break }
                guard collectingRows else { continue }
                guard let row = statement.currentRow() else {
                    code = SQLITE_NOMEM
                    break
                }
                guard size.add(row) else {
                    // Not the statement's fault as such: it is reset (by the `defer`) and stays cached.
                    throw BackendError.resultTooLarge(limit: size.limit, rows: rows.count)
                }
                rows.append(row)
            }
            if code == SQLITE_DONE { return rows }
        }
        // The message first: the reset in `defer` and the eviction's finalize may replace it.
        let error = failure(code, on: connection)
        cache.remove(sql)
        throw error
    }

    /// The error for a statement that stopped with `code`: in the words of whoever stopped it, when it was the
    /// watchdog or the authorizer rather than SQLite.
    private func failure(_ code: Int32, on connection: OpaquePointer) -> BackendError {
        switch code & 0xFF {
        case SQLITE_INTERRUPT:
            switch watchdog.interruption {
            case .deadline(let milliseconds)?:
                return BackendError(
                    .interrupted,
                    "statement interrupted: it ran longer than \(milliseconds) ms (anything it wrote was rolled back)")
            case .stopping?, nil:
                return BackendError(
                    .interrupted,
                    "statement interrupted: the server is shutting down (anything it wrote was rolled back)")
            }
        default:
            // A refusal while running: of a statement SQLite prepares inside this one (VACUUM's ATTACH).
            if let refusal = authorizer.lastRefusal { return BackendError(.notAllowed, refusal) }
            return BackendError(sqliteCode: code, connection: connection, during: .step)
        }
    }

    /// The statement to report from, after a run: `statement` itself, unless SQLite re-prepared it for a schema
    /// change; then its tables and columns may be stale, so it is prepared (and recorded) afresh.
    private func refreshed(
        _ statement: SQLiteStatement,
        sql: String,
        on connection: OpaquePointer
    ) throws(BackendError) -> SQLiteStatement {
        guard statement.wasReprepared else { return statement }
        cache.remove(sql)
        return try cachedStatement(for: sql, on: connection)
    }

    // MARK: - Preparing

    private func cachedStatement(
        for sql: String,
        on connection: OpaquePointer
    ) throws(BackendError) -> SQLiteStatement {
        if let statement = cache.statement(for: sql) { return statement }
        let statement = try prepare(sql, on: connection, persistent: true)
        cache.insert(statement, for: sql)
        return statement
    }

    /// Prepares exactly one statement, recording the tables it touches through the authorizer.
    ///
    /// - Parameter persistent: a hint to SQLite that the statement will be kept and reused.
    private func prepare(_ sql: String, on connection: OpaquePointer, persistent: Bool) throws(BackendError)
        -> SQLiteStatement
    {
        // SQLite would stop reading at a NUL and silently ignore what follows.
        guard !sql.utf8.contains(0) else { throw BackendError(.invalidStatement, "the SQL text contains a NUL byte") }
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        var recording = StatementAuthorizer.Recording()
        let prepared: Result<OpaquePointer, BackendError> = sql.withCString { text in
            var handle: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let code: Int32
            (code, recording) = authorizer.recording {
                sqlite3_prepare_v3(connection, text, -1, flags, &handle, &tail)
            }
            guard code == SQLITE_OK else {
                sqlite3_finalize(handle)
                // SQLite reports some refusals as plain errors ("not authorized to use function: …").
                if let refusal = authorizer.lastRefusal {
                    return .failure(BackendError(.notAllowed, refusal))
                }
                return .failure(BackendError(sqliteCode: code, connection: connection, during: .prepare))
            }
            guard let handle else {
                return .failure(BackendError(.invalidStatement, "empty statement: the SQL text holds no statement"))
            }
            if let tail, Self.holdsStatement(tail, on: connection) {
                sqlite3_finalize(handle)
                let first = UnsafeRawBufferPointer(start: text, count: text.distance(to: tail))
                let excerpt = Self.excerpt(String(decoding: first, as: UTF8.self))
                return .failure(
                    BackendError(.invalidStatement, "only one statement per call; found more after '\(excerpt)'")
                )
            }
            return .success(handle)
        }
        prepareCount += 1
        return SQLiteStatement(handle: try prepared.get(), recording: recording)
    }

    /// Whether `text` holds anything but white space and comments: prepares it to let SQLite decide.
    private static func holdsStatement(_ text: UnsafePointer<CChar>, on connection: OpaquePointer) -> Bool {
        var rest = text
        while rest.pointee != 0 {
            var statement: OpaquePointer?
            var next: UnsafePointer<CChar>?
            let code = sqlite3_prepare_v2(connection, rest, -1, &statement, &next)
            sqlite3_finalize(statement)
            if code != SQLITE_OK || statement != nil { return true }
            // Nothing prepared and nothing consumed: only a terminator (or nothing SQLite can read) is left.
            guard let next, next > rest else { return false }
            rest = next
        }
        return false
    }

    /// The first statement, trimmed and shortened for an error message.
    private static func excerpt(_ statement: String) -> String {
        var text = Substring(statement)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return text.count > 60 ? text.prefix(59) + "…" : String(text)
    }

    private static func refuseConnectionChange(_ statement: SQLiteStatement) throws(BackendError) {
        if statement.connectionChange == .transaction {
            throw BackendError(
                .invalidStatement,
                "transaction statements are not supported: each call already runs as its own transaction"
            )
        }
    }
}
