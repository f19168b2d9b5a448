import TierCacheStats

/// Counters of the shared Redis tier (per-type hits and misses live in `TypeCounters.l2`).
public final class L2Stats: Sendable {
    /// Time from queueing a Redis request to its reply, as a request waits for it.
    public let roundTrip = LatencyRecorder(name: "round_trip")
    /// Redis requests that failed (connection down, timeout, error reply).
    public let errors = Counter()
    /// Entries that could not be decoded (corrupt, foreign, or a newer format): served as misses.
    public let undecodable = Counter()
    /// Entries that decoded but were stale (a later write affects them) or past their logical expiry.
    public let stale = Counter()
    public let fills = Counter()
    /// Keyed fills Redis refused because the key was written after the load began.
    public let fillsRefused = Counter()
    /// Invalidations published after a write.
    public let invalidationsSent = Counter()
    /// Invalidations that could not reach Redis and wait to be replayed.
    public let invalidationsDeferred = Counter()
    public let invalidationsReplayed = Counter()
    /// Invalidations from other sidecars applied here.
    public let invalidationsReceived = Counter()
    /// From the writer's wall clock at publish to this sidecar applying the message.
    public let invalidationLag = LatencyRecorder(name: "invalidation_lag")
    public let channelLosses = Counter()
}
