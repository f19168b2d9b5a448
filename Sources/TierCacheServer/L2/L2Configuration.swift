import TierCacheRedis
import TierCacheResilience

/// How the shared Redis tier is reached and how its consistency machinery behaves.
public struct L2Configuration: Sendable {
    public var url: RedisURL
    /// Every key, the write counter and the channel live under this prefix, so deployments can share a Redis.
    public var prefix: String
    public var connectTimeout: Duration
    public var commandTimeout: Duration
    /// The subscription sends PING after this long without traffic and counts itself lost when that PING is not
    /// answered within as long again.
    public var heartbeat: Duration
    /// While the invalidation channel is down, new L1 entries live at most this long: the bound on serving a
    /// value another sidecar's write replaced, while this sidecar cannot hear about it.
    public var degradedL1Lifetime: Duration
    /// How long a written key refuses fills from loads that began before the write. A load that takes longer
    /// than half of this does not fill L2 at all.
    public var tombstoneLifetime: Duration
    /// The circuit breaker over Redis commands: while it is open, reads skip L2 (and do not fill it).
    public var breaker: CircuitBreakerConfiguration

    /// The Redis breaker's defaults: a round trip of 250 ms or more is slow (normal ones take about a millisecond
    /// even under load), judged over the last 100 commands (at least 20).
    public static let defaultBreaker = CircuitBreakerConfiguration(
        failureRateThreshold: 0.5, slowCallRateThreshold: 0.8, slowCallNanoseconds: 250_000_000, window: 100,
        minimumCalls: 20, openNanoseconds: 5_000_000_000, halfOpenProbes: 3)

    public init(
        url: RedisURL,
        prefix: String = "tiercache:",
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .milliseconds(500),
        heartbeat: Duration = .milliseconds(250),
        degradedL1Lifetime: Duration = .seconds(1),
        tombstoneLifetime: Duration = .seconds(60),
        breaker: CircuitBreakerConfiguration = L2Configuration.defaultBreaker
    ) {
        self.url = url
        self.prefix = prefix
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.heartbeat = heartbeat
        self.degradedL1Lifetime = degradedL1Lifetime
        self.tombstoneLifetime = tombstoneLifetime
        self.breaker = breaker
    }
}
