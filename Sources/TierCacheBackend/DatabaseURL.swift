import TierCacheSupport

/// The database `--database` (or `TIERCACHE_DATABASE`) names: `sqlite:PATH`, or
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…&application_name=…]` (also `postgresql://`, libpq's
/// spelling). Shown to people only as `redacted`, which never holds the password.
public enum DatabaseURL: Equatable, Sendable {
    case sqlite(path: String)
    case postgres(PostgresURL)

    public init(parsing text: String) throws(DatabaseURLError) {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw DatabaseURLError(.missingPart, "sqlite: needs a path (sqlite:PATH)") }
            self = .sqlite(path: path)
            return
        }
        for scheme in ["postgres://", "postgresql://"] where text.hasPrefix(scheme) {
            self = .postgres(try PostgresURL(parsing: String(text.dropFirst(scheme.count))))
            return
        }
        throw DatabaseURLError(
            .unknownScheme,
            "'\(Self.redacting(text))' is not a database TierCache knows: use sqlite:PATH or postgres://USER@HOST/DB")
    }

    /// The URL as logs, `STATS` and error messages show it: any password replaced by `***`.
    public var redacted: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): url.redacted
        }
    }

    /// `text` with whatever sits between `://user:` and `@` masked, for a message about a URL that did not parse.
    static func redacting(_ text: String) -> String {
        let characters = Array(text)
        guard
            let scheme = (0..<max(0, characters.count - 2)).first(where: { characters[$0..<$0 + 3] == [":", "/", "/"] }
            ),
            let at = characters.lastIndex(of: "@"), at > scheme + 3,
            let colon = characters[(scheme + 3)..<at].firstIndex(of: ":")
        else { return text }
        return String(characters[...colon]) + "***" + String(characters[at...])
    }
}

/// A PostgreSQL server and database, parsed from a `postgres://` URL.
public struct PostgresURL: Equatable, Sendable {
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP only.
        case disable
        /// TLS when the server offers it (libpq's default).
        case prefer
        /// TLS or no connection (the server's certificate is not verified, as libpq's `require`).
        case require
    }

    public var user: String
    /// From the URL; the CLI may set it from `PGPASSWORD` or `--database-password-file` instead.
    public var password: String?
    /// A host name or address, or the directory of the server's unix socket (a path: `?host=/run/postgresql`).
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    public var applicationName: String?

    public static let defaultPort = 5432
    static let parameters = ["sslmode", "application_name", "host"]

    public init(
        user: String, password: String? = nil, host: String, port: Int = PostgresURL.defaultPort, database: String,
        sslMode: SSLMode = .prefer, applicationName: String? = nil
    ) {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode
        self.applicationName = applicationName
    }

    /// Whether `host` names a unix socket's directory rather than a TCP host.
    public var usesUnixSocket: Bool { host.hasPrefix("/") }

    /// The socket's path when `usesUnixSocket`: PostgreSQL's name for it in that directory.
    public var unixSocketPath: String { "\(host)/.s.PGSQL.\(port)" }

    /// `rest`: what follows `postgres://`.
    init(parsing rest: String) throws(DatabaseURLError) {
        let (beforeQuery, query) = Self.split(rest, at: "?")
        guard let slash = beforeQuery.firstIndex(of: "/") else {
            throw DatabaseURLError(.missingPart, "postgres:// needs a database: postgres://USER@HOST/DB")
        }
        let authority = beforeQuery[..<slash]
        let database = try Self.decoded(beforeQuery[beforeQuery.index(after: slash)...], what: "database name")
        guard !database.isEmpty else {
            throw DatabaseURLError(.missingPart, "postgres:// needs a database: postgres://USER@HOST/DB")
        }
        guard let at = authority.lastIndex(of: "@") else {
            throw DatabaseURLError(.missingPart, "postgres:// needs a user: postgres://USER@HOST/DB")
        }
        let (userPart, passwordPart) = Self.split(authority[..<at], at: ":")
        let user = try Self.decoded(userPart, what: "user")
        guard !user.isEmpty else {
            throw DatabaseURLError(.missingPart, "postgres:// needs a user: postgres://USER@HOST/DB")
        }
        let password = try passwordPart.map { (part) throws(DatabaseURLError) in
            try Self.decoded(part, what: "password")
        }
        var (host, port) = try Self.hostAndPort(authority[authority.index(after: at)...])

        var sslMode = SSLMode.prefer
        var applicationName: String?
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let (name, rawValue) = Self.split(pair, at: "=")
            let value = try Self.decoded(rawValue ?? "", what: "value of \(name)")
            switch name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    let modes = SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw DatabaseURLError(.invalidParameter, "sslmode '\(value)' is not one TierCache takes (\(modes))")
                }
                sslMode = mode
            case "application_name":
                applicationName = value
            case "host":
                guard host.isEmpty else {
                    throw DatabaseURLError(.invalidParameter, "host is given twice, in the URL and as ?host=")
                }
                host = value
            default:
                throw DatabaseURLError(
                    .invalidParameter,
                    "unknown parameter '\(name)' (known: \(Self.parameters.joined(separator: ", ")))")
            }
        }
        guard !host.isEmpty else {
            throw DatabaseURLError(
                .missingPart, "postgres:// needs a host: postgres://USER@HOST/DB (or ?host=/socket/dir)")
        }
        self.init(
            user: user, password: password, host: host, port: port, database: database, sslMode: sslMode,
            applicationName: applicationName)
    }

    /// As logs and messages show it: `postgres://user:***@host:port/db?…`.
    public var redacted: String {
        var text = "postgres://\(user)\(password == nil ? "" : ":***")@"
        if usesUnixSocket {
            text += "/\(database)?host=\(host)&port=\(port)"
        } else {
            text += (host.contains(":") ? "[\(host)]" : host) + ":\(port)/\(database)"
        }
        var parameters = sslMode == .prefer ? [] : ["sslmode=\(sslMode.rawValue)"]
        if let applicationName { parameters.append("application_name=\(applicationName)") }
        if !parameters.isEmpty { text += (usesUnixSocket ? "&" : "?") + parameters.joined(separator: "&") }
        return text
    }

    private static func split(_ text: some StringProtocol, at separator: Character) -> (String, String?) {
        guard let index = text.firstIndex(of: separator) else { return (String(text), nil) }
        return (String(text[..<index]), String(text[text.index(after: index)...]))
    }

    /// `host`, `host:port`, `[v6]`, `[v6]:port`, or empty (the host then comes from `?host=`).
    private static func hostAndPort(_ text: Substring) throws(DatabaseURLError) -> (String, Int) {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw DatabaseURLError(.invalidParameter, "an IPv6 host needs its closing ']'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw DatabaseURLError(.invalidParameter, "unexpected '\(after)' after the IPv6 host")
                }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = text
        }
        var port = defaultPort
        if let portText {
            guard let number = Int(portText), (1...65_535).contains(number) else {
                throw DatabaseURLError(.invalidParameter, "port '\(portText)' is not a port number (1-65535)")
            }
            port = number
        }
        return (try decoded(host, what: "host"), port)
    }

    /// Percent-decodes a URL part (`%40` is `@`), so user names and passwords may hold any byte.
    private static func decoded(_ text: some StringProtocol, what: String) throws(DatabaseURLError) -> String {
        guard let bytes = PercentDecoding.decode(text) else {
            throw DatabaseURLError(.invalidParameter, "the \(what) has a '%' not followed by two hex digits")
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw DatabaseURLError(.invalidParameter, "the \(what) is not UTF-8 once decoded")
        }
        return decoded
    }
}

/// Why a `--database` URL was refused; the message never holds the password.
public struct DatabaseURLError: CodedError {
    public enum Code: String, ErrorCode {
        case unknownScheme, missingPart, invalidParameter
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
