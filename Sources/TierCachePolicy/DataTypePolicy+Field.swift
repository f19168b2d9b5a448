extension DataTypePolicy {
    /// The keys a type's settings may have, as written in YAML, in the order error messages list them.
    public enum Field: String, Sendable, Hashable, CaseIterable {
        case prefix, load, store, delete, tables, ttl, jitter, l1, l2
        case cacheMisses = "cache_misses"
        case maxStale = "max_stale"
        case staleWhileRevalidate = "stale_while_revalidate"
        case refreshAhead = "refresh_ahead"
        case ttlMax = "ttl_max"
        case warm
        case warmRate = "warm_rate"

        /// The keys a type cannot do without.
        public static let required: [Field] = [.load, .tables, .ttl]
    }
}
