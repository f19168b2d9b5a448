import Synchronization
import TierCacheCache
import TierCacheStats

/// What `/metrics` needs of the figures kept under the request path's locks — L1's per-type counts (shard locks)
/// and the latency histograms (recorder locks) — copied once a second by the `metrics` service. A scrape, however
/// many scrapers and however often, reads the copy and never takes a lock a GET takes; the copy costs the request
/// path one short hold of each lock a second.
final class MetricsSnapshot: Sendable {
    struct Figures: Sendable {
        var l1: L1Snapshot
        /// Commands with at least one call, in `CommandKind` order.
        var commands: [(name: String, histogram: PrometheusText.Histogram)]
        var backend: [(name: String, histogram: PrometheusText.Histogram)]
        /// Other sidecars' invalidations (with L2).
        var invalidationLag: PrometheusText.Histogram?
    }

    private let figures = Mutex<Figures?>(nil)

    /// Copies the figures now (the `metrics` service, once a second).
    func refresh(_ proxy: Proxy) {
        let bounds = MetricsReport.latencyBounds
        let taken = Figures(
            l1: proxy.l1.snapshot(),
            commands: proxy.stats.commands.map { ($0.name, $0.buckets(upperBounds: bounds)) }.filter {
                $0.histogram.count > 0
            },
            backend: proxy.stats.backend.all.map { ($0.name, $0.buckets(upperBounds: bounds)) }.filter {
                $0.histogram.count > 0
            },
            invalidationLag: proxy.l2?.stats.invalidationLag.buckets(upperBounds: bounds))
        figures.withLock { $0 = taken }
    }

    /// The last copy; the first scrape before any copy makes one.
    func current(_ proxy: Proxy) -> Figures {
        if let figures = figures.withLock({ $0 }) { return figures }
        refresh(proxy)
        return current(proxy)
    }
}
