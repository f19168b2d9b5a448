import CSQLite
import TierCacheBackend

/// One SQLite connection and its statement cache. Not thread-safe: its owner keeps it behind a lock.
///
/// Opened `SQLITE_OPEN_NOMUTEX` (SQLite's multi-thread mode) because the owner's `Mutex` already serializes
/// every call, and it has to: `sqlite3_errmsg` belongs to the connection, so the failing call and the read of its
/// message must happen under one lock. SQLite's own per-connection mutex (`FULLMUTEX`) would only be locked twice.
final class SQLiteConnection {
    /// What a connection is for, which decides how it is opened.
    enum Role {
        /// Read-write; sets WAL journal mode and `synchronous = NORMAL` on the database.
        case writer
        /// `SQLITE_OPEN_READONLY`: SQLite itself refuses any write that gets this far.
        case reader
    }

    let role: Role
    let path: String
    let configuration: SQLiteBackend.Configuration
    /// Nil once closed.
    private var handle: OpaquePointer?
    /// Internal (not private) only for `SQLiteConnection+Statements.swift`.
    var cache: StatementCache
    /// Statements prepared so far, cached or not; lets tests see the cache at work.
    var prepareCount = 0
    /// Installed on the handle for as long as it is open (see `StatementAuthorizer` for why).
    let authorizer = StatementAuthorizer()
    /// Interrupts a statement past its deadline, or once the backend stops.
    let watchdog: StatementWatchdog

    /// Opens and configures a connection to the database file at `path`.
    ///
    /// - Parameters:
    ///   - path: the database file.
    ///   - role: how to open it.
    ///   - configuration: busy timeout, cache size, limits, and whether a writer may create the file.
    ///   - stopping: the backend's signal to interrupt every statement.
    init(
        path: String,
        role: Role,
        configuration: SQLiteBackend.Configuration,
        stopping: StopSignal = StopSignal()
    ) throws(BackendError) {
        self.role = role
        self.path = path
        self.configuration = configuration
        self.cache = StatementCache(capacity: configuration.statementCacheSize)
        self.watchdog = StatementWatchdog(stopping: stopping)
        self.handle = try Self.open(
            path: path, role: role, configuration: configuration, create: configuration.createIfMissing,
            authorizer: authorizer, watchdog: watchdog)
    }

    /// Opens the file again, never creating it; the current handle (if still open) is closed once the new one is.
    func reopen() throws(BackendError) {
        let fresh = try Self.open(
            path: path, role: role, configuration: configuration, create: false, authorizer: authorizer,
            watchdog: watchdog)
        close()
        handle = fresh
    }

    var isOpen: Bool { handle != nil }

    /// Whether the database file this connection has open is no longer at its path (moved, deleted, or
    /// replaced by another file).
    var fileHasMoved: Bool {
        guard let handle else { return false }
        var moved: Int32 = 0
        return sqlite3_file_control(handle, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved != 0
    }

    /// Copies every frame of the WAL into the database file this connection has open and empties the WAL.
    /// Throws `.busy` when another connection's read or write kept it from finishing.
    func checkpoint() throws(BackendError) {
        let handle = try openHandle()
        let busy = try authorizer.trusting { () throws(BackendError) in
            try Self.pragmaValue("PRAGMA wal_checkpoint(TRUNCATE)", on: handle)
        }
        guard busy == "0" else {
            throw BackendError(.busy, "the WAL could not be checkpointed: another connection is using the database")
        }
    }

    /// Reads the schema: the cheapest statement that has to read the file.
    func probe() throws(BackendError) {
        let handle = try openHandle()
        try authorizer.trusting { () throws(BackendError) in try Self.exec("SELECT count(*) FROM sqlite_master", on: handle) }
    }

    private static func open(
        path: String,
        role: Role,
        configuration: SQLiteBackend.Configuration,
        create: Bool,
        authorizer: StatementAuthorizer,
        watchdog: StatementWatchdog
    ) throws(BackendError) -> OpaquePointer {
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        switch role {
        case .writer:
            flags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)
        case .reader:
            flags |= SQLITE_OPEN_READONLY
        }
        var opened: OpaquePointer?
        let code = sqlite3_open_v2(path, &opened, flags, nil)
        guard code == SQLITE_OK, let opened else {
            // SQLite allocates a handle even when opening fails; it holds the message and must be closed.
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_close_v2(opened)
            throw BackendError(.unavailable, "cannot open database at '\(path)': \(message)")
        }
        authorizer.install(on: opened)
        watchdog.install(on: opened)

        do throws(BackendError) {
            try harden(opened, configuration: configuration)
            // Before the journal mode: switching to WAL needs a lock another process may hold for a moment.
            sqlite3_busy_timeout(opened, Int32(configuration.busyTimeoutMilliseconds))
            try authorizer.trusting { () throws(BackendError) in try configureJournal(opened, role: role) }
        } catch {
            StatementAuthorizer.uninstall(from: opened)
            StatementWatchdog.uninstall(from: opened)
            sqlite3_close_v2(opened)
            throw BackendError(error.code, "cannot open database at '\(path)': \(error.message)")
        }
        return opened
    }

    /// Turns on SQLite's own defences for a connection that runs other people's SQL, and checks each took hold:
    /// an SQLite that can't be hardened is not used.
    ///
    /// - Defensive mode: no `writable_schema` edits of `sqlite_master`, no raw page writes, no shadow table writes.
    /// - Untrusted schema: a view or trigger (which anyone with `SQL.EXEC` may create) can't call functions that have
    ///   side effects.
    /// - No FTS3 tokenizer registration: `fts3_tokenizer(name, pointer)` would make SQLite call any address
    ///   (Debian builds SQLite with it on).
    /// - No extension loading, and no attached databases at all.
    /// - No string or blob longer than the result size limit, so `zeroblob(1e9)` can't allocate a gigabyte.
    private static func harden(
        _ connection: OpaquePointer,
        configuration: SQLiteBackend.Configuration
    ) throws(BackendError) {
        let settings: [(option: Int32, name: String, value: Int32)] = [
            (SQLITE_DBCONFIG_DEFENSIVE, "defensive mode", 1),
            (SQLITE_DBCONFIG_TRUSTED_SCHEMA, "trusted schema", 0),
            (SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, "FTS3 tokenizer registration", 0),
            (SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, "extension loading", 0),
        ]
        for setting in settings {
            var now: Int32 = -1
            let code = tiercache_sqlite_db_config_flag(connection, setting.option, setting.value, &now)
            guard code == SQLITE_OK, now == setting.value else {
                throw BackendError(.unavailable, "this SQLite cannot turn \(setting.value == 1 ? "on" : "off") \(setting.name)")
            }
        }
        sqlite3_limit(connection, SQLITE_LIMIT_ATTACHED, 0)
        sqlite3_limit(connection, SQLITE_LIMIT_LENGTH, Int32(clamping: configuration.maxResultBytes))
    }

    /// The writer sets WAL journal mode on the database; readers need nothing.
    private static func configureJournal(_ opened: OpaquePointer, role: Role) throws(BackendError) {
        guard role == .writer else { return }
        // WAL: the reader never waits for the writer, nor other processes' readers for ours.
        let mode = try pragmaValue("PRAGMA journal_mode = WAL", on: opened)
        guard mode == "wal" else {
            throw BackendError(.unavailable, "cannot switch to WAL journal mode (it stays '\(mode)')")
        }
        // In WAL mode, NORMAL keeps every commit across a crash of the process (not of the machine), without an
        // fsync per commit.
        _ = try pragmaValue("PRAGMA synchronous = NORMAL", on: opened)
    }

    deinit {
        close()
    }

    /// Finalizes every cached statement and closes the connection. Later calls throw `.unavailable`.
    func close() {
        guard let handle else { return }
        cache.removeAll()
        StatementAuthorizer.uninstall(from: handle)
        StatementWatchdog.uninstall(from: handle)
        sqlite3_close_v2(handle)
        self.handle = nil
    }

    /// Statements prepared so far and statements held in the cache.
    var cacheState: (prepared: Int, cached: Int) { (prepareCount, cache.count) }

    /// The open handle, or `.unavailable` once closed.
    func openHandle() throws(BackendError) -> OpaquePointer {
        guard let handle else { throw BackendError.closed }
        return handle
    }

    /// Runs `body` between `BEGIN IMMEDIATE` and `COMMIT`; rolls back when it throws, or when the commit fails.
    func inTransaction<T>(_ body: () throws(BackendError) -> T) throws(BackendError) -> T {
        let connection = try openHandle()
        try authorizer.trusting { () throws(BackendError) in try Self.exec("BEGIN IMMEDIATE", on: connection) }
        do throws(BackendError) {
            let result = try body()
            try authorizer.trusting { () throws(BackendError) in try Self.exec("COMMIT", on: connection) }
            return result
        } catch {
            // An interrupted or failed statement may have rolled the transaction back already.
            if sqlite3_get_autocommit(connection) == 0 { sqlite3_exec(connection, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// Runs a script of any number of statements in one transaction, through `sqlite3_exec`.
    ///
    /// The script must not hold transaction statements of its own: a BEGIN inside fails.
    func executeScript(_ script: String) throws(BackendError) {
        let connection = try openHandle()
        try authorizer.trusting { () throws(BackendError) in try Self.executeScript(script, on: connection) }
    }

    private static func executeScript(_ script: String, on connection: OpaquePointer) throws(BackendError) {
        // IMMEDIATE takes the write lock now, so a busy database fails here, before any of the script ran.
        try exec("BEGIN IMMEDIATE", on: connection)
        do throws(BackendError) {
            try exec(script, on: connection)
            if sqlite3_get_autocommit(connection) == 0 { try exec("COMMIT", on: connection) }
        } catch {
            if sqlite3_get_autocommit(connection) == 0 { sqlite3_exec(connection, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    private static func exec(_ sql: String, on connection: OpaquePointer) throws(BackendError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(connection, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            throw BackendError(sqliteCode: code, message: text, during: .script)
        }
    }

    /// Runs a PRAGMA and returns the text of its first cell (empty if it returns no row).
    private static func pragmaValue(_ sql: String, on connection: OpaquePointer) throws(BackendError) -> String {
        var statement: OpaquePointer?
        var code = sqlite3_prepare_v2(connection, sql, -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        guard code == SQLITE_OK, let statement else {
            throw BackendError(sqliteCode: code, connection: connection, during: .open)
        }
        code = sqlite3_step(statement)
        switch code {
        case SQLITE_ROW:
            return sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? ""
        case SQLITE_DONE:
            return ""
        default:
            throw BackendError(sqliteCode: code, connection: connection, during: .open)
        }
    }
}
