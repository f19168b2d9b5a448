import TierCacheSupport

/// Where a Redis server is and how to log in to it.
///
/// Two forms parse:
/// - `redis://[[user]:password@]host[:port][/db]`: port 6379 and database 0 by default; an IPv6 host goes in
///   brackets (`redis://[::1]:6380`). User and password may be percent-encoded.
/// - `unix:///path/to/socket[?db=N&password=...&username=...]`.
///
/// `description` shows the URL with the password replaced by `***`, so it is safe in logs and error messages.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    /// The TCP host (name or address, IPv6 without brackets); `nil` for a Unix socket.
    public var host: String?
    /// The TCP port; 0 for a Unix socket.
    public var port: Int
    /// The Unix socket path; `nil` for TCP.
    public var unixPath: String?
    /// The ACL user for `AUTH user password`; `nil` sends `AUTH password` (the `default` user).
    public var username: String?
    /// The password; `nil` sends no `AUTH`.
    public var password: String?
    /// The database to `SELECT` after connecting (0 sends no `SELECT`).
    public var database: Int

    public static let defaultPort = 6379

    /// Parses a `redis://` or `unix://` URL.
    ///
    /// - Parameter string: the URL.
    /// - Throws: `RedisError` with code `.invalidURL`, naming what is wrong (never echoing the password).
    public init(parsing string: String) throws(RedisError) {
        if string.hasPrefix("redis://") {
            try self.init(tcp: string.dropFirst("redis://".count))
        } else if string.hasPrefix("unix://") {
            try self.init(unix: string.dropFirst("unix://".count))
        } else if string.hasPrefix("rediss://") {
            throw Self.invalid(
                "rediss:// (TLS to Redis) is not supported: the invalidation subscription runs on Debian's hiredis "
                    + "0.14.1, which has no TLS, and a tier half on TLS would carry the other half in plain text. "
                    + "Reach Redis over a private network or a unix:// socket, or through a TLS tunnel (stunnel, a "
                    + "service mesh) on this machine's loopback")
        } else {
            let scheme = string.firstIndex(of: ":").map { String(string[..<$0]) } ?? ""
            throw Self.invalid(
                scheme.isEmpty
                    ? "a Redis URL must start with redis:// or unix://"
                    : "unsupported scheme '\(scheme)' (use redis:// or unix://)")
        }
    }

    private init(tcp rest: Substring) throws(RedisError) {
        if rest.contains("?") || rest.contains("#") {
            throw Self.invalid("a redis:// URL takes no query or fragment")
        }
        var rest = rest
        username = nil
        password = nil
        // The last '@' ends the user info, so an unencoded '@' in a password still works.
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userInfo[..<colon], what: "username")
                username = user.isEmpty ? nil : user
                password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], what: "password")
            } else {
                throw Self.invalid("a username needs a password (redis://user:password@host)")
            }
        }
        // Host and port end at the first '/', which starts the database.
        let authority: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
            path = ""
        }
        let hostPart: Substring
        let portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw Self.invalid("an IPv6 host needs a closing ']'")
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                portPart = nil
            } else if after.hasPrefix(":") {
                portPart = after.dropFirst()
            } else {
                throw Self.invalid("only ':port' may follow the bracketed IPv6 host")
            }
        } else {
            let colons = authority.filter { $0 == ":" }.count
            if colons > 1 {
                throw Self.invalid("an IPv6 host must be in brackets: redis://[::1]:6379")
            }
            if let colon = authority.firstIndex(of: ":") {
                hostPart = authority[..<colon]
                portPart = authority[authority.index(after: colon)...]
            } else {
                hostPart = authority
                portPart = nil
            }
        }
        guard !hostPart.isEmpty else { throw Self.invalid("the URL names no host") }
        host = String(hostPart)
        if let portPart {
            guard let value = Self.decimal(portPart), (1...65535).contains(value) else {
                // Not echoed: a mistyped URL may have a password where the port should be.
                throw Self.invalid("the port is not a number from 1 to 65535")
            }
            port = value
        } else {
            port = Self.defaultPort
        }
        unixPath = nil
        database = try Self.database(path.hasSuffix("/") ? path.dropLast() : path)
    }

    private init(unix rest: Substring) throws(RedisError) {
        let pathPart: Substring
        let query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            pathPart = rest[..<mark]
            query = rest[rest.index(after: mark)...]
        } else {
            pathPart = rest
            query = nil
        }
        guard pathPart.hasPrefix("/"), pathPart.count > 1 else {
            throw Self.invalid("a unix:// URL needs an absolute socket path: unix:///path/to/redis.sock")
        }
        host = nil
        port = 0
        unixPath = String(pathPart)
        username = nil
        password = nil
        database = 0
        for pair in query?.split(separator: "&", omittingEmptySubsequences: true) ?? [] {
            let key: Substring
            let value: Substring
            if let equals = pair.firstIndex(of: "=") {
                key = pair[..<equals]
                value = pair[pair.index(after: equals)...]
            } else {
                key = pair
                value = ""
            }
            switch key {
            case "db": database = try Self.database(value)
            case "password": password = try Self.percentDecoded(value, what: "password")
            case "username":
                let user = try Self.percentDecoded(value, what: "username")
                username = user.isEmpty ? nil : user
            default: throw Self.invalid("unknown query parameter '\(key)' (allowed: db, password, username)")
            }
        }
        if username != nil && password == nil {
            throw Self.invalid("a username needs a password")
        }
    }

    public var description: String {
        var userInfo = ""
        if password != nil {
            userInfo = "\(username ?? ""):***@"
        }
        if let unixPath {
            var query: [String] = []
            if database != 0 { query.append("db=\(database)") }
            if let username { query.append("username=\(username)") }
            if password != nil { query.append("password=***") }
            return "unix://\(unixPath)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }
        let host = host ?? ""
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "redis://\(userInfo)\(shownHost):\(port)" + (database == 0 ? "" : "/\(database)")
    }

    private static func invalid(_ reason: String) -> RedisError {
        RedisError(.invalidURL, "invalid Redis URL: \(reason)")
    }

    private static func database(_ text: Substring) throws(RedisError) -> Int {
        if text.isEmpty { return 0 }
        guard let value = decimal(text) else {
            throw invalid("database '\(text)' is not a non-negative number")
        }
        return value
    }

    /// A plain decimal number (ASCII digits only, no sign), or `nil`.
    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 9, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    private static func percentDecoded(_ text: Substring, what: String) throws(RedisError) -> String {
        guard let bytes = PercentDecoding.decode(text) else { throw invalid("the \(what) has a bad percent escape") }
        return String(decoding: bytes, as: UTF8.self)
    }
}
