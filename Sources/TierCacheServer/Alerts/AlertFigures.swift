import Synchronization
import TierCacheBackend
import TierCachePolicy
import TierCacheResilience
import TierCacheStats

/// What each alert metric measures, from the counters and recorders `STATS` reads.
struct AlertFigures {
    let proxy: Proxy

    /// The cumulative figures `rules`' windowed metrics need, now.
    func sample(for rules: [AlertRule], at now: UInt64) -> AlertSamples.Sample {
        var sample = AlertSamples.Sample(at: now)
        for rule in rules {
            switch rule.metric {
            case .hitRatio:
                let tier = rule.tier ?? "l1"
                let (hits, misses) = hitsAndMisses(tier: tier, type: rule.type)
                sample.counters[Self.key("hits", tier, rule.type)] = hits
                sample.counters[Self.key("misses", tier, rule.type)] = misses
            case .p99Milliseconds:
                let key = Self.key("latency", rule.command)
                if sample.histograms[key] == nil { sample.histograms[key] = latency(command: rule.command) }
            case .errorRate:
                sample.counters["errors"] = proxy.stats.errorReplies.current
                sample.counters["commands"] = proxy.stats.commandsProcessed.current
            case .invalidationLagMilliseconds:
                if let l2 = proxy.l2 {
                    sample.histograms["lag"] = l2.stats.invalidationLag.buckets(upperBounds: AlertSamples.bounds)
                }
            case .breakerOpen, .poolWaiting, .warmingNotReady, .reloadFailed:
                break
            }
        }
        return sample
    }

    /// The rule's figure: a ratio, milliseconds, a count, or 1/0 for the yes/no metrics; nil when there is
    /// nothing to measure (no traffic in the window, no Redis for a Redis breaker).
    func value(of rule: AlertRule, in samples: AlertSamples) -> Double? {
        let window = UInt64(rule.windowMilliseconds) * 1_000_000
        switch rule.metric {
        case .hitRatio:
            let tier = rule.tier ?? "l1"
            guard let hits = samples.delta(Self.key("hits", tier, rule.type), over: window),
                let misses = samples.delta(Self.key("misses", tier, rule.type), over: window), hits + misses > 0
            else { return nil }
            return Double(hits) / Double(hits + misses)
        case .p99Milliseconds:
            return samples.quantile(0.99, of: Self.key("latency", rule.command), over: window).map { $0 * 1000 }
        case .errorRate:
            guard let errors = samples.delta("errors", over: window),
                let commands = samples.delta("commands", over: window), commands > 0
            else { return nil }
            return Double(errors) / Double(commands)
        case .invalidationLagMilliseconds:
            return samples.quantile(0.99, of: "lag", over: window).map { $0 * 1000 }
        case .breakerOpen:
            let breaker = rule.dependency == "redis" ? proxy.l2?.breaker : proxy.database.breaker
            return breaker.map { $0.phase == .open ? 1 : 0 }
        case .poolWaiting:
            return Double(proxy.database.adapter.pools.reduce(0) { $0 + $1.report.waiting })
        case .warmingNotReady:
            return proxy.warmer.isReady ? 0 : 1
        case .reloadFailed:
            return proxy.policies.history.withLock { $0.lastError } == nil ? 0 : 1
        }
    }

    private static func key(_ parts: String?...) -> String {
        parts.map { $0 ?? "*" }.joined(separator: ":")
    }

    private func hitsAndMisses(tier: String, type: String?) -> (Int, Int) {
        let counters =
            proxy.policy.types.filter { type == nil || $0.name == type }.map(\.counters)
            + (type == nil ? [proxy.policy.defaultType.counters] : [])
        let tiers = counters.map { tier == "l2" ? $0.l2 : $0.l1 }
        return (tiers.reduce(0) { $0 + $1.hits.current }, tiers.reduce(0) { $0 + $1.misses.current })
    }

    /// One command's latency histogram, or every command's summed.
    private func latency(command: String?) -> PrometheusText.Histogram {
        let recorders = proxy.stats.commands.filter { command == nil || $0.name == command }
        var total = PrometheusText.Histogram(
            upperBounds: AlertSamples.bounds, cumulativeCounts: Array(repeating: 0, count: AlertSamples.bounds.count),
            count: 0, sum: 0)
        for recorder in recorders {
            let histogram = recorder.buckets(upperBounds: AlertSamples.bounds)
            for index in total.cumulativeCounts.indices {
                total.cumulativeCounts[index] += histogram.cumulativeCounts[index]
            }
            total.count += histogram.count
            total.sum += histogram.sum
        }
        return total
    }
}
