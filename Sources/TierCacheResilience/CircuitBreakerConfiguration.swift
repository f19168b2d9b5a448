/// When a circuit breaker opens, how long it stays open, and how it tests the way back.
///
/// Thresholds apply to a count-based sliding window: the outcomes of the last `window` calls. Nothing opens the
/// breaker before `minimumCalls` outcomes are in it, so a single failure after a quiet spell cannot.
public struct CircuitBreakerConfiguration: Sendable, Hashable {
    /// The share of failed calls in the window (0…1] at which the breaker opens.
    public var failureRateThreshold: Double
    /// The share of slow calls in the window (0…1] at which the breaker opens; 1 and above never trips on speed
    /// alone unless every call is slow.
    public var slowCallRateThreshold: Double
    /// A call that takes at least this long counts as slow, whatever its outcome.
    public var slowCallNanoseconds: UInt64
    /// How many of the most recent calls the rates are computed over.
    public var window: Int
    /// Calls the window must hold before a rate can open the breaker.
    public var minimumCalls: Int
    /// How long an open breaker refuses calls before it lets probes through.
    public var openNanoseconds: UInt64
    /// Probe calls admitted while half-open; all must succeed (and not be slow) to close.
    public var halfOpenProbes: Int

    public init(
        failureRateThreshold: Double = 0.5,
        slowCallRateThreshold: Double = 0.8,
        slowCallNanoseconds: UInt64 = 1_000_000_000,
        window: Int = 20,
        minimumCalls: Int = 10,
        openNanoseconds: UInt64 = 5_000_000_000,
        halfOpenProbes: Int = 3
    ) {
        self.failureRateThreshold = failureRateThreshold
        self.slowCallRateThreshold = slowCallRateThreshold
        self.slowCallNanoseconds = slowCallNanoseconds
        self.window = window
        self.minimumCalls = minimumCalls
        self.openNanoseconds = openNanoseconds
        self.halfOpenProbes = halfOpenProbes
    }

    /// The defaults: open at 50 % failures or 80 % calls slower than 1 s over the last 20 calls (at least 10),
    /// stay open 5 s, close after 3 good probes.
    public static let `default` = CircuitBreakerConfiguration()
}
