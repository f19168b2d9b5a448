import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// The admin listener's `/metrics`: the figures `STATS` shows, from the same counters and recorders, in
/// Prometheus' text format. Counters are atomics read without locks; the latency histograms and L1's per-type
/// counts come from `MetricsSnapshot`, copied once a second, so a scrape takes no lock a GET takes.
struct MetricsReport {
    let proxy: Proxy

    init(_ proxy: Proxy) { self.proxy = proxy }

    /// Upper bounds of the latency histograms, in seconds: from 10 µs (an L1 hit) to 10 s (a statement timeout).
    static let latencyBounds: [Double] = [
        0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
        0.25, 0.5, 1, 2.5, 5, 10,
    ]

    func text() -> String {
        var out = PrometheusText()
        let figures = proxy.metricsSnapshot.current(proxy)
        cache(&out, l1: figures.l1)
        latencies(&out, figures)
        resilience(&out)
        connections(&out)
        operations(&out, invalidationLag: figures.invalidationLag)
        out.family("tiercache_alerts_firing", .gauge, help: "1 while an alert of the policy fires, else 0.")
        for status in proxy.alerts.statuses {
            out.sample("tiercache_alerts_firing", [("alert", status.rule.name)], status.machine.isFiring ? 1 : 0)
        }
        out.family("tiercache_admin_event_viewers", .gauge, help: "Viewers of the admin listener's /events now.")
        out.sample("tiercache_admin_event_viewers", proxy.events.viewerCount)
        out.family(
            "tiercache_admin_events_skipped_total", .counter,
            help: "Events not sent to a viewer that was not reading (its connection's buffer full).")
        out.sample("tiercache_admin_events_skipped_total", proxy.events.skipped.current)
        out.family("tiercache_build_info", .gauge, help: "The running build: always 1, its version as a label.")
        out.sample("tiercache_build_info", [("version", TierCacheVersion.string)], 1)
        return out.text
    }

    private func cache(_ out: inout PrometheusText, l1: L1Snapshot) {
        let types =
            proxy.policy.types.map { ($0.name, $0.counters, $0.group) }
            + [("default", proxy.policy.defaultType.counters, proxy.policy.defaultType.group)]
        out.family(
            "tiercache_cache_requests_total", .counter,
            help: "Reads looked up in a cache tier, by tier (l2 with --redis), data type and result (l1 stale: an "
                + "expired entry served within max_stale because the database failed; l2 stale: an entry found "
                + "but written since or expired, also a miss).")
        for (name, counters, _) in types {
            var results: [(String, String, Int)] = [
                ("l1", "hit", counters.l1.hits.current), ("l1", "miss", counters.l1.misses.current),
                ("l1", "stale", counters.staleHits.current),
            ]
            if proxy.l2 != nil {
                results += [
                    ("l2", "hit", counters.l2.hits.current), ("l2", "miss", counters.l2.misses.current),
                    ("l2", "stale", counters.l2Stale.current),
                ]
            }
            for (tier, result, value) in results {
                out.sample(
                    "tiercache_cache_requests_total", [("tier", tier), ("type", name), ("result", result)], value)
            }
        }
        out.family("tiercache_cache_entries", .gauge, help: "Entries held in L1, by data type.")
        for (name, _, group) in types {
            out.sample("tiercache_cache_entries", [("tier", "l1"), ("type", name)], l1.group(group).entries)
        }
        out.family("tiercache_cache_bytes", .gauge, help: "Bytes charged to L1 (keys, values and per-entry overhead).")
        out.sample("tiercache_cache_bytes", [("tier", "l1")], l1.bytes)
        out.family("tiercache_cache_max_bytes", .gauge, help: "L1's bound (--l1-max-memory).")
        out.sample("tiercache_cache_max_bytes", [("tier", "l1")], l1.maxBytes)
        out.family("tiercache_cache_evictions_total", .counter, help: "L1 entries evicted to stay within the bound.")
        for (name, _, group) in types {
            out.sample("tiercache_cache_evictions_total", [("type", name)], l1.group(group).evictions)
        }
        out.family("tiercache_backend_loads_total", .counter, help: "Loads from the database after a cache miss.")
        for (name, counters, _) in types {
            out.sample("tiercache_backend_loads_total", [("type", name)], counters.loads.current)
        }
    }

    private func latencies(_ out: inout PrometheusText, _ figures: MetricsSnapshot.Figures) {
        out.family(
            "tiercache_command_duration_seconds", .histogram,
            help: "Time from a command's arrival to its reply, by command.")
        for (name, histogram) in figures.commands {
            out.histogram("tiercache_command_duration_seconds", [("command", name)], histogram)
        }
        out.family(
            "tiercache_backend_duration_seconds", .histogram,
            help: "Time the database took, by operation (load, query, store, delete, exec, transaction).")
        for (name, histogram) in figures.backend {
            out.histogram("tiercache_backend_duration_seconds", [("op", name)], histogram)
        }
        out.family(
            "tiercache_backend_errors_total", .counter,
            help: "Database calls that failed, by operation and kind (the error's code).")
        for (operation, kind, count) in proxy.stats.backend.errors.all {
            out.sample("tiercache_backend_errors_total", [("op", operation), ("kind", kind)], count)
        }
    }

    private func resilience(_ out: inout PrometheusText) {
        let breakers = [("database", proxy.database.breaker)] + (proxy.l2.map { [("redis", $0.breaker)] } ?? [])
        out.family(
            "tiercache_breaker_state", .gauge, help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.")
        for (dependency, breaker) in breakers {
            let value =
                switch breaker.phase {
                case .closed: 0
                case .halfOpen: 1
                case .open: 2
                }
            out.sample("tiercache_breaker_state", [("dependency", dependency)], value)
        }
        out.family(
            "tiercache_breaker_transitions_total", .counter, help: "Circuit breaker transitions, by the state entered.")
        for (dependency, breaker) in breakers {
            for (to, counter) in [
                ("open", breaker.opened), ("half_open", breaker.halfOpened), ("closed", breaker.closed),
            ] {
                out.sample(
                    "tiercache_breaker_transitions_total", [("dependency", dependency), ("to", to)], counter.current)
            }
        }
        out.family(
            "tiercache_pool_connections", .gauge,
            help: "Database connections by pool and state (in_use, waiting: callers waiting for one, max).")
        for (pool, report) in proxy.database.adapter.pools {
            out.sample("tiercache_pool_connections", [("pool", pool), ("state", "in_use")], report.inUse)
            out.sample("tiercache_pool_connections", [("pool", pool), ("state", "waiting")], report.waiting)
            out.sample("tiercache_pool_connections", [("pool", pool), ("state", "max")], report.size)
        }
    }

    private func connections(_ out: inout PrometheusText) {
        let stats = proxy.stats
        out.family("tiercache_connections", .gauge, help: "Client connections open now.")
        out.sample("tiercache_connections", [("state", "open")], stats.connectionsOpen.current)
        out.family("tiercache_connections_accepted_total", .counter, help: "Client connections accepted.")
        out.sample("tiercache_connections_accepted_total", stats.connectionsAccepted.current)
        out.family(
            "tiercache_connections_closed_total", .counter, help: "Client connections the proxy closed, by reason.")
        let closed: [(String, Counter)] = [
            ("idle_timeout", stats.idleClosed), ("request_timeout", stats.slowRequestsClosed),
            ("output_limit", stats.outputLimitClosed), ("input_budget", stats.inputBudgetClosed),
        ]
        for (reason, counter) in closed {
            out.sample("tiercache_connections_closed_total", [("reason", reason)], counter.current)
        }
        out.family(
            "tiercache_connections_rejected_total", .counter,
            help: "Connections refused: at --max-clients (reason max_clients), from another machine in protected "
                + "mode (reason protected_mode).")
        for (reason, counter) in [("max_clients", stats.rejectedConnections), ("protected_mode", stats.deniedConnections)] {
            out.sample("tiercache_connections_rejected_total", [("reason", reason)], counter.current)
        }
        out.family("tiercache_auth_failures_total", .counter, help: "AUTH and HELLO … AUTH attempts that failed.")
        out.sample("tiercache_auth_failures_total", stats.rejectedAuth.current)
        out.family(
            "tiercache_permission_refusals_total", .counter,
            help: "Commands refused NOPERM: outside the user's categories or on a type it may not touch.")
        out.sample("tiercache_permission_refusals_total", stats.refusedPermission.current)
        out.family(
            "tiercache_tls_failures_total", .counter,
            help: "TLS connections that failed their handshake or broke TLS (plain text, a refused certificate).")
        out.sample("tiercache_tls_failures_total", stats.tlsFailures.current)
        out.family("tiercache_commands_total", .counter, help: "Commands processed.")
        out.sample("tiercache_commands_total", stats.commandsProcessed.current)
        out.family("tiercache_error_replies_total", .counter, help: "Error replies sent to clients.")
        out.sample("tiercache_error_replies_total", stats.errorReplies.current)
    }

    private func operations(_ out: inout PrometheusText, invalidationLag: PrometheusText.Histogram?) {
        let history = proxy.policies.history.withLock { $0 }
        out.family("tiercache_policy_reloads_total", .counter, help: "Policy reloads, by result.")
        out.sample("tiercache_policy_reloads_total", [("result", "ok")], history.reloads - history.failures)
        out.sample("tiercache_policy_reloads_total", [("result", "failed")], history.failures)
        out.family("tiercache_warming_ready", .gauge, help: "1 when no warming run is under way, else 0.")
        out.sample("tiercache_warming_ready", proxy.warmer.isReady ? 1 : 0)

        let local = proxy.policy.types.reduce(proxy.policy.defaultType.counters.invalidations.current) {
            $0 + $1.counters.invalidations.current
        }
        out.family(
            "tiercache_invalidations_total", .counter,
            help: "Invalidations applied, by source: local (this proxy's writes, per type invalidated), peer "
                + "(other sidecars' through Redis), database (other programs' commits heard from the database).")
        out.sample("tiercache_invalidations_total", [("source", "local")], local)
        out.sample(
            "tiercache_invalidations_total", [("source", "peer")], proxy.l2?.stats.invalidationsReceived.current ?? 0)
        out.sample(
            "tiercache_invalidations_total", [("source", "database")], proxy.externalWrites?.changesHeard.current ?? 0)
        out.family(
            "tiercache_invalidation_lag_seconds", .histogram,
            help: "From another sidecar's publish to this one applying it (source peer; the clocks' difference "
                + "included).")
        if let invalidationLag {
            out.histogram("tiercache_invalidation_lag_seconds", [("source", "peer")], invalidationLag)
        }
    }
}
