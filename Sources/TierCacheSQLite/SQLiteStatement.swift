import CSQLite
import TierCacheBackend

/// A prepared statement, with what SQLite reported about it while preparing it.
///
/// Belongs to one connection and is used only under that connection's lock; finalized when released.
final class SQLiteStatement {
    let handle: OpaquePointer
    /// `sqlite3_stmt_readonly`: SQLite's own answer to "may this write the database?".
    let isReadOnly: Bool
    let parameterCount: Int
    let columns: [String]
    let tablesRead: Set<String>
    let tablesWritten: Set<String>
    let connectionChange: StatementAuthorizer.ConnectionChange?
    let setsPragma: Bool
    /// When the statement was last used, for the statement cache.
    var lastUse: UInt64 = 0

    /// SQLite's count of automatic re-prepares when the above was recorded. SQLite re-prepares a statement by
    /// itself after a schema change, without calling the authorizer, so once this moves the tables and columns
    /// above may be stale.
    private let recordedReprepares: Int32

    init(handle: OpaquePointer, recording: StatementAuthorizer.Recording) {
        self.handle = handle
        isReadOnly = sqlite3_stmt_readonly(handle) != 0
        parameterCount = Int(sqlite3_bind_parameter_count(handle))
        columns = (0..<sqlite3_column_count(handle)).map { index in
            sqlite3_column_name(handle, index).map { String(cString: $0) } ?? ""
        }
        tablesRead = recording.tablesRead
        tablesWritten = recording.tablesWritten
        connectionChange = recording.connectionChange
        setsPragma = recording.setsPragma
        recordedReprepares = sqlite3_stmt_status(handle, SQLITE_STMTSTATUS_REPREPARE, 0)
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Whether SQLite re-prepared the statement since it was recorded (see `recordedReprepares`).
    var wasReprepared: Bool {
        sqlite3_stmt_status(handle, SQLITE_STMTSTATUS_REPREPARE, 0) != recordedReprepares
    }

    /// Binds `parameters` to placeholders 1...n; the caller has checked the count.
    ///
    /// Text and blobs are copied by SQLite (`SQLITE_TRANSIENT`): our buffers are only valid inside the closure.
    /// An empty array may have no buffer at all, and a null pointer would bind NULL, so empty values are bound
    /// explicitly.
    /// - Returns: `SQLITE_OK` or the first failing code.
    func bind(_ parameters: [SQLValue]) -> Int32 {
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .null:
                code = sqlite3_bind_null(handle, index)
            case .integer(let integer):
                code = sqlite3_bind_int64(handle, index, integer)
            case .real(let real):
                code = sqlite3_bind_double(handle, index, real)
            case .text(let bytes):
                code = bytes.withUnsafeBufferPointer { buffer in
                    guard let base = buffer.baseAddress, !buffer.isEmpty else {
                        return sqlite3_bind_text(handle, index, "", 0, tiercache_sqlite_transient())
                    }
                    return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { text in
                        sqlite3_bind_text64(
                            handle, index, text, UInt64(buffer.count), tiercache_sqlite_transient(), UInt8(SQLITE_UTF8)
                        )
                    }
                }
            case .blob(let bytes):
                code = bytes.withUnsafeBytes { buffer in
                    guard let base = buffer.baseAddress, !buffer.isEmpty else {
                        return sqlite3_bind_zeroblob(handle, index, 0)
                    }
                    return sqlite3_bind_blob64(handle, index, base, UInt64(buffer.count), tiercache_sqlite_transient())
                }
            }
            guard code == SQLITE_OK else { return code }
        }
        return SQLITE_OK
    }

    /// The cells of the current row, typed as SQLite stored them; `nil` if SQLite ran out of memory copying one.
    ///
    /// Bytes go straight from SQLite's buffer into an exactly sized array: no `String` on the way.
    func currentRow() -> [SQLValue]? {
        let count = sqlite3_column_count(handle)
        var row: [SQLValue] = []
        row.reserveCapacity(Int(count))
        for column in 0..<count {
            switch sqlite3_column_type(handle, column) {
            case SQLITE_INTEGER:
                row.append(.integer(sqlite3_column_int64(handle, column)))
            case SQLITE_FLOAT:
                row.append(.real(sqlite3_column_double(handle, column)))
            case SQLITE_TEXT:
                // The pointer first, then the length: that order gives the length of the text as returned.
                let text = UnsafeRawPointer(sqlite3_column_text(handle, column))
                guard let bytes = copyBytes(text, column: column) else { return nil }
                row.append(.text(bytes))
            case SQLITE_BLOB:
                guard let bytes = copyBytes(sqlite3_column_blob(handle, column), column: column) else { return nil }
                row.append(.blob(bytes))
            default:
                row.append(.null)
            }
        }
        return row
    }

    /// Copies `sqlite3_column_bytes` bytes from `start`. A null `start` is an empty value, or an allocation failure
    /// if SQLite says so.
    private func copyBytes(_ start: UnsafeRawPointer?, column: Int32) -> [UInt8]? {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let start else { return sqlite3_errcode(sqlite3_db_handle(handle)) == SQLITE_NOMEM ? nil : [] }
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(start: start, count: count))
            initialized = count
        }
    }

    /// Ends the current run and drops the bindings, so the statement is ready for the next caller and holds no
    /// read snapshot (an open one would keep WAL checkpoints from finishing).
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }
}
