import TierCacheBackend
import TierCacheSupport

/// An error a client sees as one RESP error line. The code decides the prefix, in this one place.
public struct ProxyError: CodedError {
    public enum Code: String, ErrorCode {
        /// A generic failure (`ERR`).
        case generic
        /// Bad arguments to a known command (`ERR`).
        case wrongArguments
        /// The key matches no data type (`ERR`).
        case noType
        /// The type has no `store`/`delete` statement (`ERR`).
        case readOnlyType
        /// Authentication is required (`NOAUTH`).
        case noAuth
        /// Wrong password (`WRONGPASS`).
        case wrongPass
        /// Unsupported HELLO version (`NOPROTO`).
        case noProto
        /// The database refused or failed (`DBERR`).
        case database
        /// QUERY was given a statement that may write (`READONLY`).
        case notReadOnly
        /// A dependency's circuit breaker is open: refused without trying (`UNAVAILABLE`).
        case unavailable
        /// `EXEC` ran nothing, or rolled back everything it ran (`EXECABORT`).
        case execAbort
        /// The user may not run the command or touch the type (`NOPERM`, as Redis' ACLs answer).
        case noPermission
    }

    public var code: Code
    public var message: String
    /// The backend's own code, when the error came from it: decides whether it counts against the breaker.
    public var backendCode: BackendError.Code?

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The RESP error line without the leading `-`.
    public var replyText: String {
        let prefix: String
        switch code {
        case .generic, .wrongArguments, .noType, .readOnlyType: prefix = "ERR"
        case .noAuth: prefix = "NOAUTH"
        case .wrongPass: prefix = "WRONGPASS"
        case .noProto: prefix = "NOPROTO"
        case .database: prefix = "DBERR"
        case .notReadOnly: prefix = "READONLY"
        case .unavailable: prefix = "UNAVAILABLE"
        case .execAbort: prefix = "EXECABORT"
        case .noPermission: prefix = "NOPERM"
        }
        return "\(prefix) \(message)"
    }

    public var description: String { replyText }

    /// A backend failure as the client sees it.
    public init(_ error: BackendError) {
        if error.code == .notReadOnly {
            self.init(.notReadOnly, error.message)
        } else {
            self.init(.database, "\(error.message)")
        }
        backendCode = error.code
    }

    /// `SET` or `DEL` of a type whose policy has no `store` or `delete` statement.
    static func missingStatement(_ statement: String, of type: DataTypeState, for command: String) -> ProxyError {
        ProxyError(
            .readOnlyType, "type '\(type.name)' has no \(statement) statement; \(command) is not available for it")
    }

    /// `SQL.EXEC` while `--sql-exec` is off (the default), in the words Redis uses for its own disabled commands.
    static let sqlExecOff = ProxyError(
        .generic,
        "SQL.EXEC command not allowed. The --sql-exec option is off (the default): start TierCache with --sql-exec on "
            + "(or TIERCACHE_SQL_EXEC=on) to let clients run statements that write; SET and DEL write through the "
            + "policies' statements either way.")

    /// Redis' words for a command outside the user's categories.
    static func noPermission(toRun kind: CommandKind) -> ProxyError {
        ProxyError(.noPermission, "this user has no permissions to run the '\(kind.name.lowercased())' command")
    }

    /// A key, or a table read, of a type outside the user's types.
    static func noPermission(toAccessType type: String) -> ProxyError {
        ProxyError(.noPermission, "this user has no permissions to access the '\(type)' type")
    }

    public static func wrongArity(_ command: String) -> ProxyError {
        ProxyError(.wrongArguments, "wrong number of arguments for '\(command.lowercased())' command")
    }
}
