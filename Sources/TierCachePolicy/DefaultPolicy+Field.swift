extension DefaultPolicy {
    /// The keys the `default` section may have, as written in YAML, in the order error messages list them.
    public enum Field: String, Sendable, Hashable, CaseIterable {
        case cache, ttl, jitter, l1, l2
    }
}
