import NIOCore

/// Every command TierCache answers, with its Redis-style arity (exact when positive, minimum when negative)
/// and the flags `COMMAND` reports.
public enum CommandKind: Int, CaseIterable, Sendable {
    case get, mget, exists, set, del, query, sqlQuery, sqlExec
    case multi, exec, discard, watch, unwatch
    case ping, echo, quit, reset, hello, auth, command, client, config, select
    case info, dbsize, time, ttl, pttl, type, strlen, hlen, scan, keys
    case stats, policy, warm, slowlog, acl

    public var name: String {
        switch self {
        case .get: "GET"
        case .mget: "MGET"
        case .exists: "EXISTS"
        case .set: "SET"
        case .del: "DEL"
        case .query: "QUERY"
        case .sqlQuery: "SQL.QUERY"
        case .sqlExec: "SQL.EXEC"
        case .multi: "MULTI"
        case .exec: "EXEC"
        case .discard: "DISCARD"
        case .watch: "WATCH"
        case .unwatch: "UNWATCH"
        case .ping: "PING"
        case .echo: "ECHO"
        case .quit: "QUIT"
        case .reset: "RESET"
        case .hello: "HELLO"
        case .auth: "AUTH"
        case .command: "COMMAND"
        case .client: "CLIENT"
        case .config: "CONFIG"
        case .select: "SELECT"
        case .info: "INFO"
        case .dbsize: "DBSIZE"
        case .time: "TIME"
        case .ttl: "TTL"
        case .pttl: "PTTL"
        case .type: "TYPE"
        case .strlen: "STRLEN"
        case .hlen: "HLEN"
        case .scan: "SCAN"
        case .keys: "KEYS"
        case .stats: "STATS"
        case .policy: "POLICY"
        case .warm: "WARM"
        case .slowlog: "SLOWLOG"
        case .acl: "ACL"
        }
    }

    /// Arity counted with the command name, as Redis does.
    public var arity: Int {
        switch self {
        case .get: 2
        case .mget, .exists, .del, .query, .sqlQuery, .sqlExec: -2
        case .set: -3
        case .ping, .quit, .hello, .command, .stats, .warm, .info: -1
        case .multi, .exec, .discard, .unwatch, .dbsize, .time, .reset: 1
        case .ttl, .pttl, .type, .strlen, .hlen, .keys: 2
        case .scan: -2
        case .watch: -2
        case .echo, .select: 2
        case .auth, .client, .config, .policy, .slowlog, .acl: -2
        }
    }

    public var flags: [String] {
        switch self {
        case .get, .mget, .exists, .query, .sqlQuery, .ttl, .pttl, .type, .strlen, .hlen, .dbsize, .time:
            ["readonly", "fast"]
        case .scan, .keys: ["readonly"]
        case .set, .del, .sqlExec: ["write"]
        case .ping, .echo: ["fast", "stale"]
        case .multi, .exec, .discard, .watch, .unwatch: ["noscript", "loading", "stale", "fast", "allow_busy"]
        case .quit, .hello, .auth, .reset: ["noscript", "loading", "stale", "fast", "no_auth"]
        case .command, .client, .config, .select, .stats, .policy, .warm, .info: ["loading", "stale"]
        case .slowlog: ["admin", "loading", "stale"]
        case .acl: ["loading", "stale"]
        }
    }

    /// Position of the first and last key argument and the step between keys (0 when it takes no keys).
    public var keySpan: (first: Int, last: Int, step: Int) {
        switch self {
        case .get, .set, .ttl, .pttl, .type, .strlen, .hlen: (1, 1, 1)
        case .mget, .exists, .del, .watch: (1, -1, 1)
        default: (0, 0, 0)
        }
    }

    /// Whether `count` arguments (the name included) satisfy the arity.
    @inline(__always)
    public func accepts(argumentCount count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }

    /// Looks a command name up without building a String: the name is compared as ASCII, case-insensitively.
    public static func lookup(_ name: ByteBuffer) -> CommandKind? {
        name.withUnsafeReadableBytes(lookup(bytes:))
    }

    public static func lookup(bytes: UnsafeRawBufferPointer) -> CommandKind? {
        // Fast path for the command nearly every request is.
        if bytes.count == 3, matches(bytes, "GET") { return .get }
        for kind in allCases where kind.name.utf8.count == bytes.count && matches(bytes, kind.name) {
            return kind
        }
        return nil
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ upper: String) -> Bool {
        var index = 0
        for expected in upper.utf8 {
            // Letters: clear bit 5 of the byte to upper-case it; the dot of module-style names (`SQL.EXEC`)
            // must match as it is.
            let byte = expected == UInt8(ascii: ".") ? bytes[index] : bytes[index] & 0xDF
            if byte != expected { return false }
            index += 1
        }
        return true
    }
}

extension CommandKind {
    /// Whether the command may be queued after `MULTI`: the data commands and the ones that need nothing but the
    /// connection. The others (`HELLO`, `AUTH`, `CLIENT`, `STATS`, …) change or report the connection or the proxy
    /// now, not in a transaction: refused while queuing, which makes `EXEC` abort.
    var mayBeQueued: Bool {
        switch self {
        case .get, .mget, .exists, .set, .del, .query, .sqlQuery, .sqlExec, .ping, .echo, .unwatch: true
        default: false
        }
    }

    /// Commands that act at once even between `MULTI` and `EXEC`, as in Redis.
    var actsInTransaction: Bool {
        switch self {
        case .multi, .exec, .discard, .watch, .quit, .reset: true
        default: false
        }
    }
}

extension CommandKind {
    /// Reads may overlap each other in a pipeline; any other command is a barrier (`ConnectionStateMachine`).
    var mayOverlap: Bool {
        switch self {
        case .get, .mget, .exists, .query, .sqlQuery: true
        default: false
        }
    }
}
