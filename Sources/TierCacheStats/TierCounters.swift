/// Hits and misses of one cache tier for one data type.
public final class TierCounters: Sendable {
    public let hits = Counter()
    public let misses = Counter()

    public init() {}

    public var hitRatio: StatsNode { .ratio(hits.current, of: hits.current + misses.current) }
}

/// Everything counted for one data type (or for `default`, QUERY results that belong to no type).
public final class TypeCounters: Sendable {
    public let name: String
    public let l1 = TierCounters()
    /// Looked up in the shared Redis tier after an L1 miss.
    public let l2 = TierCounters()
    /// L2 look-ups that found an entry they could not serve: written since it was stored, or past its logical
    /// expiry. Each is an L2 miss too.
    public let l2Stale = Counter()
    /// Loads from the backend, and the share of them that found no row.
    public let loads = Counter()
    public let loadsAbsent = Counter()
    public let loadErrors = Counter()
    /// Reads answered with an expired entry (within `max_stale`) because loading it again failed.
    public let staleHits = Counter()
    /// Reads answered with an entry past its ttl, within `stale_while_revalidate`, while a background load
    /// refreshed it.
    public let revalidations = Counter()
    /// Background loads started by `refresh_ahead`: a hit on an entry late in its life.
    public let refreshes = Counter()
    /// Reads answered with a fresh load while another identical load was already running (coalesced).
    public let coalesced = Counter()
    /// Writes through SET/DEL/SQL.EXEC that invalidated entries of this type.
    public let invalidations = Counter()

    public init(name: String) { self.name = name }
}
