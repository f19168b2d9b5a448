/// What a user may run, by kind of command (Redis ACL categories, a subset). Connection commands (PING, HELLO,
/// AUTH, CLIENT SETNAME, …) belong to none: every authenticated user may run them.
public enum CommandCategory: String, CaseIterable, Sendable, Hashable {
    /// GET MGET EXISTS QUERY SQL.QUERY TTL PTTL TYPE STRLEN HLEN SCAN KEYS DBSIZE.
    case read
    /// SET DEL and transactions: MULTI EXEC DISCARD WATCH UNWATCH.
    case write
    /// SQL.EXEC (also needs `--sql-exec on`).
    case sql
    /// STATS POLICY WARM SLOWLOG CONFIG INFO CLIENT LIST ACL LIST/USERS.
    case admin
}
