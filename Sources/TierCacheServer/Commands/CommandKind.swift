import NIOCore

/// Every command TierCache answers, with its Redis-style arity (exact when positive, minimum when negative)
/// and the flags `COMMAND` reports.
public enum CommandKind: Int, CaseIterable, Sendable {
    case get, mget, exists, set, del, query, exec
    case ping, echo, quit, hello, auth, command, client, config, select
    case stats, policy, warm

    public var name: String {
        switch self {
        case .get: "GET"
        case .mget: "MGET"
        case .exists: "EXISTS"
        case .set: "SET"
        case .del: "DEL"
        case .query: "QUERY"
        case .exec: "EXEC"
        case .ping: "PING"
        case .echo: "ECHO"
        case .quit: "QUIT"
        case .hello: "HELLO"
        case .auth: "AUTH"
        case .command: "COMMAND"
        case .client: "CLIENT"
        case .config: "CONFIG"
        case .select: "SELECT"
        case .stats: "STATS"
        case .policy: "POLICY"
        case .warm: "WARM"
        }
    }

    /// Arity counted with the command name, as Redis does.
    public var arity: Int {
        switch self {
        case .get: 2
        case .mget, .exists, .del, .query, .exec: -2
        case .set: -3
        case .ping, .quit, .hello, .command, .stats, .warm: -1
        case .echo, .select: 2
        case .auth, .client, .config, .policy: -2
        }
    }

    public var flags: [String] {
        switch self {
        case .get, .mget, .exists, .query: ["readonly", "fast"]
        case .set, .del, .exec: ["write"]
        case .ping, .echo: ["fast", "stale"]
        case .quit, .hello, .auth: ["noscript", "loading", "stale", "fast", "no_auth"]
        case .command, .client, .config, .select, .stats, .policy, .warm: ["loading", "stale"]
        }
    }

    /// Position of the first and last key argument and the step between keys (0 when it takes no keys).
    public var keySpan: (first: Int, last: Int, step: Int) {
        switch self {
        case .get, .set: (1, 1, 1)
        case .mget, .exists, .del: (1, -1, 1)
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
            // ASCII letters: clear bit 5 to upper-case; other bytes of command names are letters only.
            if bytes[index] & 0xDF != expected { return false }
            index += 1
        }
        return true
    }
}
