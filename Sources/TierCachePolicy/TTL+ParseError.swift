extension TTL {
    /// Why a ttl text was refused; the policy parser turns each into an operator-facing message.
    public enum ParseError: Error, Sendable, Hashable {
        /// Not a whole number with an optional unit `ms`, `s`, `m`, `h` or `d`.
        case malformed
        /// Zero or negative: an entry that expires at once is not cached at all, which `l1: false` and
        /// `l2: false` say more plainly.
        case notPositive
        /// Longer than `TTL.maximum`, overflow included.
        case tooLarge
    }
}
