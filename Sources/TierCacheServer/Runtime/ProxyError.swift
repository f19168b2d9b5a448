import TierCacheBackend

/// An error a client sees as one RESP error line. The code decides the prefix, in this one place.
public struct ProxyError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable {
        fileprivate enum Base: Sendable, Hashable {
            case generic, wrongArguments, noType, readOnlyType, noAuth, wrongPass, noProto, database, notReadOnly
            case unavailable, execAbort
        }
        fileprivate let base: Base

        /// A generic failure (`ERR`).
        public static let generic = Code(base: .generic)
        /// Bad arguments to a known command (`ERR`).
        public static let wrongArguments = Code(base: .wrongArguments)
        /// The key matches no data type (`ERR`).
        public static let noType = Code(base: .noType)
        /// The type has no `store`/`delete` statement (`ERR`).
        public static let readOnlyType = Code(base: .readOnlyType)
        /// Authentication is required (`NOAUTH`).
        public static let noAuth = Code(base: .noAuth)
        /// Wrong password (`WRONGPASS`).
        public static let wrongPass = Code(base: .wrongPass)
        /// Unsupported HELLO version (`NOPROTO`).
        public static let noProto = Code(base: .noProto)
        /// The database refused or failed (`DBERR`).
        public static let database = Code(base: .database)
        /// QUERY was given a statement that may write (`READONLY`).
        public static let notReadOnly = Code(base: .notReadOnly)
        /// A dependency's circuit breaker is open: refused without trying (`UNAVAILABLE`).
        public static let unavailable = Code(base: .unavailable)
        /// `EXEC` ran nothing, or rolled back everything it ran (`EXECABORT`).
        public static let execAbort = Code(base: .execAbort)
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
        switch code.base {
        case .generic, .wrongArguments, .noType, .readOnlyType: prefix = "ERR"
        case .noAuth: prefix = "NOAUTH"
        case .wrongPass: prefix = "WRONGPASS"
        case .noProto: prefix = "NOPROTO"
        case .database: prefix = "DBERR"
        case .notReadOnly: prefix = "READONLY"
        case .unavailable: prefix = "UNAVAILABLE"
        case .execAbort: prefix = "EXECABORT"
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

    public static func wrongArity(_ command: String) -> ProxyError {
        ProxyError(.wrongArguments, "wrong number of arguments for '\(command.lowercased())' command")
    }
}
