/// The RESP dialect a connection speaks; `HELLO 3` switches a connection to ``v3``.
///
/// Writers take it where the two dialects encode a reply differently (null, map, double, boolean), so command code
/// builds one reply and the connection's version picks the bytes.
public enum RESPVersion: Sendable {
    /// RESP2, the default for every new connection.
    case v2
    /// RESP3, with typed nulls, maps, doubles and booleans.
    case v3
}
