extension CircuitBreakerConfiguration {
    /// A setting that could not be read, worded for the operator who wrote it.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let message: String
        public var description: String { message }

        public init(message: String) { self.message = message }
    }

    /// The setting names `init(parsing:base:duration:)` accepts, in the order the help lists them.
    public static let settingNames = ["failure_rate", "slow_rate", "slow_call", "window", "min_calls", "open", "probes"]

    /// Reads `key=value` settings separated by commas, such as `failure_rate=0.5,open=10s,probes=2`, over `base`.
    ///
    /// - Parameters:
    ///   - duration: reads `slow_call` and `open` values (`500ms`, `2s`) as nanoseconds; nil when not a positive
    ///     duration. Passed in so this target stays free of the policy target's parser.
    public init(
        parsing spec: String,
        base: CircuitBreakerConfiguration = .default,
        duration: (String) -> UInt64?
    ) throws(ParseError) {
        self = base
        for item in spec.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ParseError(message: "'\(item)' is not key=value")
            }
            let (key, value) = (parts[0], parts[1])
            switch key {
            case "failure_rate": failureRateThreshold = try Self.rate(value, key)
            case "slow_rate": slowCallRateThreshold = try Self.rate(value, key)
            case "slow_call": slowCallNanoseconds = try Self.duration(value, key, duration)
            case "open": openNanoseconds = try Self.duration(value, key, duration)
            case "window": window = try Self.count(value, key)
            case "min_calls": minimumCalls = try Self.count(value, key)
            case "probes": halfOpenProbes = try Self.count(value, key)
            default:
                throw ParseError(
                    message: "unknown setting '\(key)' (known: \(Self.settingNames.joined(separator: ", ")))")
            }
        }
        guard minimumCalls <= window else {
            throw ParseError(message: "min_calls (\(minimumCalls)) cannot exceed window (\(window))")
        }
    }

    private static func rate(_ text: String, _ key: String) throws(ParseError) -> Double {
        guard let value = Double(text), value > 0, value <= 1 else {
            throw ParseError(message: "\(key) must be a fraction in (0, 1], like 0.5; got '\(text)'")
        }
        return value
    }

    private static func count(_ text: String, _ key: String) throws(ParseError) -> Int {
        guard let value = Int(text), (1...100_000).contains(value) else {
            throw ParseError(message: "\(key) must be a whole number from 1 to 100000; got '\(text)'")
        }
        return value
    }

    private static func duration(
        _ text: String,
        _ key: String,
        _ parse: (String) -> UInt64?
    ) throws(ParseError) -> UInt64 {
        guard let value = parse(text), value > 0 else {
            throw ParseError(message: "\(key) must be a positive duration like 500ms or 5s; got '\(text)'")
        }
        return value
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
