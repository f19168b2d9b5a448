import TierCachePolicy
import TierCacheStats

/// `POLICY SHOW`: the running policy as operators wrote it, with where each type came from.
struct PolicyReport {
    let proxy: Proxy

    init(_ proxy: Proxy) { self.proxy = proxy }

    func tree() -> StatsNode {
        let types: [(String, StatsNode)] = proxy.policy.types.map { type in
            let policy = type.policy
            var fields: [(String, StatsNode)] = [
                ("prefix", .text(policy.prefix)),
                ("ttl_seconds", .double(policy.ttl.seconds)),
                ("jitter_percent", .double(policy.jitterPercent)),
                ("tables", .text(policy.tables.joined(separator: ","))),
                ("l1", .integer(policy.l1 ? 1 : 0)),
                ("l2", .integer(policy.l2 ? 1 : 0)),
                ("cache_misses", .integer(policy.cacheMisses ? 1 : 0)),
                ("load", .text(policy.load)),
            ]
            if let store = policy.store { fields.append(("store", .text(store))) }
            if let delete = policy.delete { fields.append(("delete", .text(delete))) }
            if let maxStale = policy.maxStale { fields.append(("max_stale_seconds", .double(maxStale.seconds))) }
            if let window = policy.staleWhileRevalidate {
                fields.append(("stale_while_revalidate_seconds", .double(window.seconds)))
            }
            if let fraction = policy.refreshAhead { fields.append(("refresh_ahead", .double(fraction))) }
            if let ttlMax = policy.ttlMax { fields.append(("ttl_max_seconds", .double(ttlMax.seconds))) }
            fields.append(("source", .text(policy.location.description)))
            return (type.name, .map(fields))
        }
        let fallback = proxy.policy.policies.defaultPolicy
        return .map([
            ("path", .text(proxy.configuration.policyPath)),
            ("files", .text(proxy.policy.policies.files.joined(separator: ","))),
            ("status", StatsReport(proxy).policyStatus()),
            ("types", .map(types)),
            (
                "default",
                .map([
                    ("cache", .integer(fallback.cache ? 1 : 0)),
                    ("ttl_seconds", .double(fallback.ttl?.seconds ?? 0)),
                    ("l1", .integer(fallback.l1 ? 1 : 0)),
                ])
            ),
        ])
    }
}
