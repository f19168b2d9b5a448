import TierCacheStats

/// The cumulative figures the windowed alerts need, sampled once a second and kept for the longest window, so a
/// ratio or percentile "over the last minute" is the difference between now and a minute ago.
struct AlertSamples {
    /// One second's figures: counters by key, latency histograms (cumulative bucket counts) by key.
    struct Sample {
        var at: UInt64
        var counters: [String: Int] = [:]
        var histograms: [String: PrometheusText.Histogram] = [:]
    }

    /// Bounds of the alerting histograms, seconds: 1-2-5 steps from 10 µs to 60 s, for percentiles within a
    /// bucket's width.
    static let bounds: [Double] = [
        0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
        0.5, 1, 2, 5, 10, 20, 60,
    ]

    private var samples: [Sample] = []

    /// Adds `sample` and forgets those older than `keep` nanoseconds before it (one older is kept, so a window
    /// always has a start).
    mutating func add(_ sample: Sample, keep: UInt64) {
        samples.append(sample)
        while samples.count > 2, sample.at &- samples[1].at >= keep { samples.removeFirst() }
    }

    var latest: Sample? { samples.last }

    /// The newest sample at least `window` old, or the oldest there is.
    func start(of window: UInt64) -> Sample? {
        guard let latest else { return nil }
        return samples.last { latest.at &- $0.at >= window } ?? samples.first
    }

    /// Growth of counter `key` over `window`.
    func delta(_ key: String, over window: UInt64) -> Int? {
        guard let latest, let start = start(of: window), latest.at != start.at,
            let now = latest.counters[key], let then = start.counters[key]
        else { return nil }
        return now - then
    }

    /// The `quantile` (0…1) of histogram `key`'s observations within `window`, in seconds, interpolated within
    /// its bucket as Prometheus' `histogram_quantile` does; nil without observations.
    func quantile(_ quantile: Double, of key: String, over window: UInt64) -> Double? {
        guard let latest, let start = start(of: window), latest.at != start.at,
            let now = latest.histograms[key], let then = start.histograms[key]
        else { return nil }
        return now.quantile(quantile, since: then)
    }
}
