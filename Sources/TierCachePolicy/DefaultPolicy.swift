/// What happens to `QUERY` reads whose tables belong to no type: by default they go to the database uncached,
/// because nothing would invalidate them when those tables change.
public struct DefaultPolicy: Sendable, Hashable {
    public var cache: Bool
    /// Always set when `cache` is true.
    public var ttl: TTL?
    public var jitterPercent: Double
    public var l1: Bool
    public var l2: Bool
    /// Where the `default` key is written, or `nil` when no file has a `default` section.
    public var location: SourceLocation?

    public init(
        cache: Bool,
        ttl: TTL? = nil,
        jitterPercent: Double = 0,
        l1: Bool = true,
        l2: Bool = true,
        location: SourceLocation? = nil
    ) {
        self.cache = cache
        self.ttl = ttl
        self.jitterPercent = jitterPercent
        self.l1 = l1
        self.l2 = l2
        self.location = location
    }

    /// What applies when no file has a `default` section.
    public static let noCache = DefaultPolicy(cache: false)
}
