import CSQLite

/// What no client or policy statement may do on TierCache's connections.
///
/// The rule: a statement may read and write the data of the one database file TierCache opened, and nothing
/// else. It may not
/// - reach outside that file: `ATTACH`, `DETACH` and `VACUUM` (whose `INTO` form writes a copy anywhere the
///   server may write, and which attaches a database internally in either form), and loading extensions;
/// - change the connection it runs on, which every client shares: temporary tables, views, indexes and triggers
///   (a temporary trigger would run inside other clients' writes), PRAGMAs other than the informational ones
///   below, and PRAGMAs that set a value (left to `read` and `write`, which refuse them with their own words);
/// - call functions that are dangerous on a shared server: `fts3_tokenizer()` (reads and registers raw native
///   pointers: crashes the process and leaks addresses) and `load_extension()` (loads native code);
/// - read `sqlite_stmt`, which lists the statements of the connection, other clients' included;
/// - create virtual tables of modules other than full-text search and R-tree.
///
/// The connection is also opened with SQLite's own defences (`SQLiteConnection.harden`): defensive mode,
/// untrusted schema, no FTS3 tokenizer registration, no extension loading, no attached databases.
extension StatementAuthorizer {
    /// Why SQLite must refuse this authorizer call, or nil to let it through.
    static func refusal(action: Int32, first: UnsafePointer<CChar>?, second: UnsafePointer<CChar>?) -> String? {
        switch action {
        case SQLITE_ATTACH, SQLITE_DETACH:
            return "ATTACH and DETACH are not supported (nor VACUUM, which attaches a database): they open files"
                + " other than the database, and connections are shared"
        case SQLITE_CREATE_TEMP_TABLE, SQLITE_CREATE_TEMP_INDEX, SQLITE_CREATE_TEMP_TRIGGER, SQLITE_CREATE_TEMP_VIEW,
            SQLITE_DROP_TEMP_TABLE, SQLITE_DROP_TEMP_INDEX, SQLITE_DROP_TEMP_TRIGGER, SQLITE_DROP_TEMP_VIEW:
            return "temporary tables, indexes, triggers and views are not supported: they would live on a connection"
                + " every client shares"
        case SQLITE_FUNCTION:
            guard let name = second.map(asciiLowercased), let reason = refusedFunctions[name] else { return nil }
            return "function \(name)() is not allowed: \(reason)"
        case SQLITE_PRAGMA:
            guard let name = first.map(asciiLowercased) else { return nil }
            guard allowedPragmas.contains(name) else {
                return "PRAGMA \(name) is not allowed: only informational PRAGMAs run here (they would change the"
                    + " connection every client shares, or show the server's files)"
            }
            return nil
        case SQLITE_READ:
            guard let table = first.map(asciiLowercased), table == "sqlite_stmt" else { return nil }
            return "sqlite_stmt is not readable here: it shows other clients' statements"
        case SQLITE_CREATE_VTABLE:
            guard let module = second.map(asciiLowercased), !allowedModules.contains(module) else { return nil }
            return "virtual tables of module '\(module)' are not supported (only \(allowedModules.sorted().joined(separator: ", ")))"
        default:
            return nil
        }
    }

    /// Functions no statement may call, with the reason given to the client.
    static let refusedFunctions: [String: String] = [
        "fts3_tokenizer": "it reads and registers native pointers",
        "load_extension": "it loads native code into the server",
    ]

    /// PRAGMAs that only report (or, with an argument, report on a named table or index): the ones a client may
    /// run. A value-setting form of one of them (`user_version = 1`) gets past the authorizer and is refused by
    /// `read` and `write`.
    static let allowedPragmas: Set<String> = Set([
        "application_id", "auto_vacuum", "cache_size", "collation_list", "compile_options", "data_version",
        "encoding", "foreign_keys", "freelist_count", "function_list", "journal_mode", "module_list", "page_count",
        "page_size", "pragma_list", "schema_version", "table_list", "user_version",
    ]).union(pragmasNamingAnObject)

    /// PRAGMAs whose argument names what to report on instead of setting anything.
    static let pragmasNamingAnObject: Set<String> = [
        "foreign_key_check", "foreign_key_list", "index_info", "index_list", "index_xinfo", "integrity_check",
        "quick_check", "table_info", "table_xinfo",
    ]

    /// Modules of the virtual tables `CREATE VIRTUAL TABLE` may create.
    static let allowedModules: Set<String> = ["fts3", "fts4", "fts5", "rtree", "rtree_i32"]
}
