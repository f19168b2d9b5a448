import TierCacheRedis

/// Commands in tests read as strings.
extension Array where Element == UInt8 {
    init(_ string: String) { self = Array(string.utf8) }
}
