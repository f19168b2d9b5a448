import TierCachePolicy

extension CommandKind {
    /// The users file's category the command belongs to; nil for connection commands, which every authenticated
    /// user may run. `CLIENT` and `ACL` are nil here: their reporting subcommands (`CLIENT LIST`, `ACL LIST`,
    /// `ACL USERS`) are admin, checked where they run.
    var category: CommandCategory? {
        switch self {
        case .get, .mget, .exists, .query, .sqlQuery, .ttl, .pttl, .type, .strlen, .hlen, .scan, .keys, .dbsize:
            .read
        case .set, .del, .multi, .exec, .discard, .watch, .unwatch: .write
        case .sqlExec: .sql
        case .stats, .policy, .warm, .slowlog, .config, .info: .admin
        case .ping, .echo, .quit, .reset, .hello, .auth, .command, .client, .select, .time, .acl: nil
        }
    }

    /// Whether a client may run it before authenticating.
    var needsNoAuthentication: Bool {
        switch self {
        case .auth, .hello, .quit, .reset: true
        default: false
        }
    }
}
