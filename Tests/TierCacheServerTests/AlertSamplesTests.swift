import Testing
import TierCacheStats
import TierCacheSupport

@testable import TierCacheServer

@Suite("Alert samples: deltas and percentiles over a window")
struct AlertSamplesTests {
    private let second: UInt64 = 1_000_000_000

    private func sample(_ at: UInt64, hits: Int, buckets: [UInt64], count: UInt64) -> AlertSamples.Sample {
        AlertSamples.Sample(
            at: at * second, counters: ["hits": hits],
            histograms: [
                "lat": .init(upperBounds: [0.001, 0.01, 0.1], cumulativeCounts: buckets, count: count, sum: 0)
            ])
    }

    @Test("a counter's growth over the window, from the newest sample at least that old")
    func delta() {
        var samples = AlertSamples()
        #expect(samples.delta("hits", over: 2 * second) == nil)
        for (at, hits) in [(0, 0), (1, 10), (2, 30), (3, 60)] {
            samples.add(sample(UInt64(at), hits: hits, buckets: [0, 0, 0], count: 0), keep: 2 * second)
        }
        #expect(samples.delta("hits", over: 2 * second) == 50)  // 60 - 10
        #expect(samples.delta("hits", over: 1 * second) == 30)
        #expect(samples.delta("missing", over: 1 * second) == nil)
    }

    @Test("percentiles interpolated within the bucket, as histogram_quantile does")
    func quantile() {
        var samples = AlertSamples()
        samples.add(sample(0, hits: 0, buckets: [10, 10, 10], count: 10), keep: 60 * second)
        // 100 new observations: 50 under 1 ms, 40 in 1–10 ms, 10 in 10–100 ms.
        samples.add(sample(1, hits: 0, buckets: [60, 100, 110], count: 110), keep: 60 * second)
        let p50 = samples.quantile(0.5, of: "lat", over: second)
        #expect(p50 == 0.001)
        let p99 = samples.quantile(0.99, of: "lat", over: second) ?? 0
        #expect(abs(p99 - (0.01 + 0.09 * 9 / 10)) < 1e-12)
        #expect(samples.quantile(0.99, of: "other", over: second) == nil)
    }

    @Test(
        "RFC 3339 times in UTC",
        arguments: [
            (UInt64(0), "1970-01-01T00:00:00.000Z"), (UInt64(951_782_400_000_000), "2000-02-29T00:00:00.000Z"),
            (UInt64(1_796_391_210_123_456), "2026-12-04T13:33:30.123Z"),
        ])
    func rfc3339(micros: UInt64, text: String) {
        #expect(RFC3339.string(unixMicroseconds: micros) == text)
    }
}
