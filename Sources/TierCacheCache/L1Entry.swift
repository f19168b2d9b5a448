/// What the read path needs to know about a cached entry besides its bytes.
public struct L1EntryInfo: Sendable, Hashable {
    /// Monotonic time (nanoseconds) after which the entry is never served.
    public var expiresAt: UInt64
    /// The write sequence number seen when the load that produced this entry started. An entry is stale when
    /// a write that could affect it committed with a higher sequence number.
    public var stamp: UInt64
    /// The accounting group (a data type) the entry is counted under.
    public var group: Int32
    /// Table ids this entry depends on beyond its group (QUERY results); empty for keyed entries.
    public var dependencies: [Int32]

    public init(expiresAt: UInt64, stamp: UInt64, group: Int32, dependencies: [Int32] = []) {
        self.expiresAt = expiresAt
        self.stamp = stamp
        self.group = group
        self.dependencies = dependencies
    }
}

/// The result of looking a key up.
public enum L1Lookup: Sendable, Equatable {
    /// Served: the body wrote the value.
    case hit(group: Int32)
    /// Not present, or present but expired (then removed).
    case miss
    /// Present and unexpired, but the body judged it stale; it was removed.
    case stale(group: Int32)
    /// Present but past its expiry, kept within its type's `max_stale` in case a load fails
    /// (`L1Cache.lookupStale`); a miss for every other purpose.
    case expired(group: Int32)
}
