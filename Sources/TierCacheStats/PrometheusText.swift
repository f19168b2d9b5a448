/// Prometheus' text exposition format, version 0.0.4: families (`# HELP`, `# TYPE`) and their samples, written
/// from the proxy's own counters and recorders at scrape time, so `/metrics` and `STATS` read the same figures.
///
/// Names are the caller's (checked in tests with `promtool check metrics`); label values are escaped here.
public struct PrometheusText: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// The content type Prometheus expects for this format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public private(set) var text = ""

    public init() {}

    /// Starts a family. Every sample of it follows, before the next family starts.
    public mutating func family(_ name: String, _ kind: Kind, help: String) {
        text += "# HELP \(name) \(Self.escapedHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Int) {
        line(name, labels, String(value))
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        line(name, labels, Self.format(value))
    }

    /// A sample without labels.
    public mutating func sample(_ name: String, _ value: Int) {
        line(name, [], String(value))
    }

    /// A histogram's samples: cumulative `_bucket`s (`le` in the family's unit) ending with `+Inf`, `_sum` and
    /// `_count`.
    public mutating func histogram(_ name: String, _ labels: [(String, String)] = [], _ histogram: Histogram) {
        for (bound, count) in zip(histogram.upperBounds, histogram.cumulativeCounts) {
            line(name + "_bucket", labels + [("le", Self.format(bound))], String(count))
        }
        line(name + "_bucket", labels + [("le", "+Inf")], String(histogram.count))
        line(name + "_sum", labels, Self.format(histogram.sum))
        line(name + "_count", labels, String(histogram.count))
    }

    /// Cumulative counts at upper bounds, in the unit the family's name says (seconds here).
    public struct Histogram: Sendable, Hashable {
        public var upperBounds: [Double]
        /// Observations at or below each bound.
        public var cumulativeCounts: [UInt64]
        public var count: UInt64
        public var sum: Double

        public init(upperBounds: [Double], cumulativeCounts: [UInt64], count: UInt64, sum: Double) {
            self.upperBounds = upperBounds
            self.cumulativeCounts = cumulativeCounts
            self.count = count
            self.sum = sum
        }
    }

    private mutating func line(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (index, (label, labelValue)) in labels.enumerated() {
                if index > 0 { text += "," }
                text += label + "=\"" + Self.escapedLabelValue(labelValue) + "\""
            }
            text += "}"
        }
        text += " " + value + "\n"
    }

    /// Go's float syntax, which Prometheus parses: `+Inf`, `-Inf`, `NaN`, else Swift's shortest round-trip form.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escapedLabelValue(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// HELP text: backslash and line feed escaped.
    static func escapedHelp(_ help: String) -> String {
        help.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }
}

extension PrometheusText.Histogram {
    /// The `quantile` (0…1) of the observations made since `earlier` (the same histogram read before; nil: all),
    /// interpolated within its bucket as Prometheus' `histogram_quantile` does, in the bounds' unit; nil without
    /// observations. One past the last bound reads as the last bound.
    public func quantile(_ quantile: Double, since earlier: Self? = nil) -> Double? {
        let total = count &- (earlier?.count ?? 0)
        guard total > 0 else { return nil }
        let rank = quantile * Double(total)
        var previousBound = 0.0
        var previousCount = 0.0
        for (index, bound) in upperBounds.enumerated() {
            let cumulative = Double(cumulativeCounts[index] &- (earlier?.cumulativeCounts[index] ?? 0))
            if cumulative >= rank {
                let inBucket = cumulative - previousCount
                guard inBucket > 0 else { return bound }
                return previousBound + (bound - previousBound) * (rank - previousCount) / inBucket
            }
            previousBound = bound
            previousCount = cumulative
        }
        return upperBounds.last
    }
}
