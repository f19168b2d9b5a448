/// One alert of a policy file's `alerts:` section: a condition on the proxy's figures, how long it must hold
/// before the alert fires (`for`), and how long after a notification another of the same alert stays quiet
/// (`cooldown`).
public struct AlertRule: Sendable, Hashable {
    /// What the alert watches. Ratios, rates and percentiles are over the last `window` of traffic.
    public enum Metric: String, Sendable, Hashable, CaseIterable {
        /// Hits / (hits + misses) of `tier` (l1 by default), for `type` or all types.
        case hitRatio = "hit_ratio"
        /// The 99th percentile of `command`'s latency (all commands without one), in milliseconds.
        case p99Milliseconds = "p99_ms"
        /// Error replies / commands.
        case errorRate = "error_rate"
        /// The `dependency`'s (database by default) circuit breaker is open.
        case breakerOpen = "breaker_open"
        /// Callers waiting for a database connection, over all pools.
        case poolWaiting = "pool_waiting"
        /// The 99th percentile of the lag of other sidecars' invalidations, in milliseconds.
        case invalidationLagMilliseconds = "invalidation_lag_ms"
        /// A warming run is under way.
        case warmingNotReady = "warming_not_ready"
        /// The last policy reload failed (the previous policy still runs).
        case reloadFailed = "reload_failed"

        /// Yes/no conditions take no `below`/`above`.
        public var isCondition: Bool {
            switch self {
            case .breakerOpen, .warmingNotReady, .reloadFailed: true
            default: false
            }
        }

        /// Measured over a window of traffic (`window` applies).
        public var isWindowed: Bool {
            switch self {
            case .hitRatio, .p99Milliseconds, .errorRate, .invalidationLagMilliseconds: true
            default: false
            }
        }

        /// The selectors that narrow it.
        public var selectors: [AlertRule.Selector] {
            switch self {
            case .hitRatio: [.tier, .type]
            case .p99Milliseconds: [.command]
            case .breakerOpen: [.dependency]
            default: []
            }
        }
    }

    /// Keys that say which figure of a metric is meant.
    public enum Selector: String, Sendable, Hashable, CaseIterable {
        case tier, type, command, dependency
    }

    public enum Threshold: Sendable, Hashable {
        case below(Double)
        case above(Double)

        public func isCrossed(by value: Double) -> Bool {
            switch self {
            case .below(let limit): value < limit
            case .above(let limit): value > limit
            }
        }

        public var limit: Double {
            switch self {
            case .below(let limit), .above(let limit): limit
            }
        }
    }

    public var name: String
    public var metric: Metric
    /// `l1` or `l2` (hit_ratio; l1 when absent).
    public var tier: String?
    /// A data type's name (hit_ratio).
    public var type: String?
    /// A command's name, upper-cased (p99_ms).
    public var command: String?
    /// `database` or `redis` (breaker_open; database when absent).
    public var dependency: String?
    /// Nil for the yes/no metrics.
    public var threshold: Threshold?
    public var forMilliseconds: Int
    public var cooldownMilliseconds: Int
    public var windowMilliseconds: Int
    public var location: SourceLocation

    public static let defaultCooldownMilliseconds = 10 * 60 * 1000
    public static let defaultWindowMilliseconds = 60 * 1000

    public init(
        name: String, metric: Metric, tier: String? = nil, type: String? = nil, command: String? = nil,
        dependency: String? = nil, threshold: Threshold? = nil, forMilliseconds: Int = 0,
        cooldownMilliseconds: Int = AlertRule.defaultCooldownMilliseconds,
        windowMilliseconds: Int = AlertRule.defaultWindowMilliseconds, location: SourceLocation
    ) {
        self.name = name
        self.metric = metric
        self.tier = tier
        self.type = type
        self.command = command
        self.dependency = dependency
        self.threshold = threshold
        self.forMilliseconds = forMilliseconds
        self.cooldownMilliseconds = cooldownMilliseconds
        self.windowMilliseconds = windowMilliseconds
        self.location = location
    }

    /// What the rule says, in one line, for logs and reports: `hit_ratio{tier=l1,type=x} < 0.5 for 1m`.
    public var summary: String {
        let selectors = [("tier", tier), ("type", type), ("command", command), ("dependency", dependency)]
            .compactMap { key, value in value.map { "\(key)=\($0)" } }
        var text = metric.rawValue + (selectors.isEmpty ? "" : "{\(selectors.joined(separator: ","))}")
        switch threshold {
        case .below(let limit): text += " < \(Self.number(limit))"
        case .above(let limit): text += " > \(Self.number(limit))"
        case nil: break
        }
        if forMilliseconds > 0 { text += " for \(TTL(milliseconds: Int64(forMilliseconds)))" }
        return text
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
