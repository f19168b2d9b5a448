import Histogram
import Synchronization

/// Latencies of one operation in an HdrHistogram, in nanoseconds with two significant digits (1 % precision).
///
/// Two digits keep each histogram near 30 KB while still telling 1 µs from 1.01 µs; recording is one
/// uncontended lock and an array increment.
public final class LatencyRecorder: Sendable {
    public let name: String
    private let histogram: Mutex<Histogram<UInt64>>

    /// Longest latency tracked exactly; longer ones are clamped to it (and still counted).
    static let highestTrackableNanoseconds: UInt64 = 600_000_000_000

    public init(name: String) {
        self.name = name
        self.histogram = Mutex(
            Histogram(
                lowestDiscernibleValue: 1,
                highestTrackableValue: Self.highestTrackableNanoseconds,
                numberOfSignificantValueDigits: .two
            )
        )
    }

    public func record(nanoseconds: UInt64) {
        let value = min(max(nanoseconds, 1), Self.highestTrackableNanoseconds)
        histogram.withLock { _ = $0.record(value) }
    }

    /// Records `count` operations that took `nanoseconds` each, under one lock.
    public func record(nanoseconds: UInt64, count: Int) {
        guard count > 0 else { return }
        let value = min(max(nanoseconds, 1), Self.highestTrackableNanoseconds)
        histogram.withLock { _ = $0.record(value, count: UInt64(count)) }
    }

    /// Records several operations under one lock.
    public func record(all nanoseconds: [UInt64]) {
        guard !nanoseconds.isEmpty else { return }
        histogram.withLock { histogram in
            for value in nanoseconds { _ = histogram.record(min(max(value, 1), Self.highestTrackableNanoseconds)) }
        }
    }

    public func summary() -> LatencySummary {
        histogram.withLock { histogram in
            LatencySummary(
                count: histogram.totalCount,
                p50: histogram.valueAtPercentile(50),
                p90: histogram.valueAtPercentile(90),
                p99: histogram.valueAtPercentile(99),
                p999: histogram.valueAtPercentile(99.9),
                max: histogram.totalCount == 0 ? 0 : histogram.max
            )
        }
    }

    /// Cumulative counts at `upperBounds` (seconds, ascending), with the count and the sum of every value, for a
    /// Prometheus histogram. Values are as the recorder keeps them (1 % precision): a value within 1 % of a bound
    /// may fall on either side of it. One pass over the recorded values, under the lock.
    public func buckets(upperBounds: [Double]) -> PrometheusText.Histogram {
        let bounds = upperBounds.map { UInt64(($0 * 1e9).rounded()) }
        var counts = [UInt64](repeating: 0, count: bounds.count)
        var total: UInt64 = 0
        var sumNanoseconds: Double = 0
        histogram.withLock { histogram in
            for item in histogram.recordedValues() {
                let value = item.value
                let count = UInt64(item.count)
                total += count
                sumNanoseconds += Double(histogram.medianEquivalentForValue(value)) * Double(count)
                // The first bound at or above the value; the cumulative sums come after the lock.
                if let index = bounds.firstIndex(where: { histogram.highestEquivalentForValue(value) <= $0 }) {
                    counts[index] += count
                }
            }
        }
        var running: UInt64 = 0
        for index in counts.indices {
            running += counts[index]
            counts[index] = running
        }
        return PrometheusText.Histogram(
            upperBounds: upperBounds, cumulativeCounts: counts, count: total, sum: sumNanoseconds / 1e9)
    }

    public func reset() {
        histogram.withLock { $0.reset() }
    }
}

/// Percentiles of one recorder, in nanoseconds.
public struct LatencySummary: Sendable, Hashable {
    public var count: UInt64
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64

    public init(count: UInt64, p50: UInt64, p90: UInt64, p99: UInt64, p999: UInt64, max: UInt64) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }

    /// As a stats node with microsecond values, the unit operators read latencies in.
    public var node: StatsNode {
        .map([
            ("count", .integer(Int64(clamping: count))),
            ("p50_us", .double(Double(p50) / 1000)),
            ("p90_us", .double(Double(p90) / 1000)),
            ("p99_us", .double(Double(p99) / 1000)),
            ("p99.9_us", .double(Double(p999) / 1000)),
            ("max_us", .double(Double(max) / 1000)),
        ])
    }
}
