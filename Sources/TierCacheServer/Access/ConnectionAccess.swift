import NIOCore
import TierCachePolicy

/// What one connection's user may do, compiled for the request path: a bit per command, and for a user limited to
/// some types, a flag per accounting group and the tables those types read. Rebuilt when the user, the users file
/// or the policy changes (once per batch at most), so a command's check is a bit test, and a key's an array read.
struct ConnectionAccess {
    /// Nil before authentication.
    private(set) var user: AccessUser?
    /// Bit `kind.rawValue`: the command may run.
    private var commands: UInt64
    /// Nil: every type. Else indexed by accounting group.
    private(set) var groups: [Bool]?
    /// Tables some permitted type reads; nil: every table.
    private var tables: Set<String>?

    /// The connection of no user: only the commands that authenticate (or end the connection).
    static let unauthenticated = ConnectionAccess(user: nil, policy: nil)

    init(user: AccessUser?, policy: PolicyState?) {
        self.user = user
        var commands: UInt64 = 0
        for kind in CommandKind.allCases {
            let allowed =
                if let user { kind.category.map(user.categories.contains) ?? true } else { kind.needsNoAuthentication }
            if allowed { commands |= 1 << UInt64(kind.rawValue) }
        }
        self.commands = commands
        guard let user, case .only(let names) = user.types, let policy else {
            groups = nil
            tables = nil
            return
        }
        var groups = [Bool](repeating: false, count: policy.typesByGroup.count)
        var tables: Set<String> = []
        for type in policy.types where names.contains(type.name) {
            groups[Int(type.group)] = true
            tables.formUnion(type.policy.tables)
        }
        self.groups = groups
        self.tables = tables
    }

    var isAuthenticated: Bool { user != nil }

    @inline(__always)
    func mayRun(_ kind: CommandKind) -> Bool {
        commands & (1 << UInt64(kind.rawValue)) != 0
    }

    /// Whether the user has `category` (for the subcommands checked where they run).
    func has(_ category: CommandCategory) -> Bool {
        user?.categories.contains(category) ?? false
    }

    /// Whether the user may access entries of accounting group `group`.
    @inline(__always)
    func mayAccess(group: Int32) -> Bool {
        guard let groups else { return true }
        return group >= 0 && Int(group) < groups.count && groups[Int(group)]
    }

    /// For a key the user may not touch, the refusal naming its type; nil when it may (or the key has no type:
    /// the command then answers that as it would for anyone).
    func refusal(forKey key: ByteBuffer, policy: PolicyState) -> ProxyError? {
        guard groups != nil, let group = policy.group(of: key), !mayAccess(group: group),
            policy.typesByGroup.indices.contains(Int(group)), let type = policy.typesByGroup[Int(group)]
        else { return nil }
        return ProxyError.noPermission(toAccessType: type.name)
    }

    /// For a QUERY that read `read`, the refusal of its first table no permitted type reads; nil when all are
    /// (QUERY is judged by the types that own the tables it reads).
    func refusal(forTables read: some Sequence<String>, policy: PolicyState) -> ProxyError? {
        guard let tables else { return nil }
        for table in read where !tables.contains(table) {
            let owner = policy.types.first { $0.policy.tables.contains(table) }
            return owner.map { ProxyError.noPermission(toAccessType: $0.name) }
                ?? ProxyError(
                    .noPermission,
                    "this user has no permissions to read the '\(table)' table: no type it may access reads it")
        }
        return nil
    }
}
