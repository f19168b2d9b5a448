import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheStats
import TierCacheSupport

/// Builds the `STATS` report: server, tiers, data types, commands and backend operations.
struct StatsReport {
    let proxy: Proxy

    init(_ proxy: Proxy) { self.proxy = proxy }

    /// The whole tree.
    func tree() -> StatsNode {
        let l1 = proxy.l1.snapshot()
        var l1Hits = 0
        var l1Misses = 0
        var l2Hits = 0
        var l2Misses = 0
        var types: [(String, StatsNode)] = []
        for type in proxy.policy.types {
            l1Hits += type.counters.l1.hits.current
            l1Misses += type.counters.l1.misses.current
            l2Hits += type.counters.l2.hits.current
            l2Misses += type.counters.l2.misses.current
            types.append((type.name, typeReport(type.counters, l1: l1.group(type.group), ttl: type.policy.ttl.seconds)))
        }
        let fallback = proxy.policy.defaultType
        l1Hits += fallback.counters.l1.hits.current
        l1Misses += fallback.counters.l1.misses.current
        l2Hits += fallback.counters.l2.hits.current
        l2Misses += fallback.counters.l2.misses.current
        types.append(
            (
                "default",
                typeReport(fallback.counters, l1: l1.group(fallback.group), ttl: fallback.policy.ttl?.seconds ?? 0)
            )
        )

        var commands: [(String, StatsNode)] = CommandKind.allCases.compactMap { kind in
            let summary = proxy.stats.recorder(for: kind).summary()
            return summary.count == 0 ? nil : (kind.name, summary.node)
        }
        let refused = proxy.refusals.top(20)
        if !refused.isEmpty {
            commands.append(("refused", .map(refused.map { ($0.0, .integer(Int64($0.1))) })))
        }
        var backend: [(String, StatsNode)] = proxy.stats.backend.all.map { ($0.name, $0.summary().node) }
        backend.append(("errors", .integer(Int64(proxy.stats.backend.errors.total))))
        backend.append(("pools", .map(proxy.database.adapter.pools.map { ($0.name, $0.report.node) })))
        backend.append(("health", proxy.database.health.report))
        if let external = proxy.externalWrites {
            backend.append(("external_writes", external.report(now: proxy.clock.wallClockMicroseconds())))
        }

        return .map([
            (
                "server",
                .map([
                    ("version", .text(TierCacheVersion.string)),
                    ("uptime_seconds", .integer(Int64((proxy.clock.monotonicNanoseconds() &- proxy.startedAt) / 1_000_000_000))),
                    ("connections_open", .integer(Int64(proxy.stats.connectionsOpen.current))),
                    ("connections_total", .integer(Int64(proxy.stats.connectionsAccepted.current))),
                    ("commands_processed", .integer(Int64(proxy.stats.commandsProcessed.current))),
                    ("error_replies", .integer(Int64(proxy.stats.errorReplies.current))),
                    ("protocol_errors", .integer(Int64(proxy.stats.protocolErrors.current))),
                    ("auth_failures", .integer(Int64(proxy.stats.rejectedAuth.current))),
                    ("permission_refusals", .integer(Int64(proxy.stats.refusedPermission.current))),
                    ("tls_handshake_failures", .integer(Int64(proxy.stats.tlsFailures.current))),
                    ("rejected_connections", .integer(Int64(proxy.stats.rejectedConnections.current))),
                    ("denied_connections", .integer(Int64(proxy.stats.deniedConnections.current))),
                    ("idle_closed", .integer(Int64(proxy.stats.idleClosed.current))),
                    ("slow_requests_closed", .integer(Int64(proxy.stats.slowRequestsClosed.current))),
                    ("output_paused", .integer(Int64(proxy.stats.outputPaused.current))),
                    ("output_limit_closed", .integer(Int64(proxy.stats.outputLimitClosed.current))),
                    ("input_buffered_bytes", .integer(Int64(proxy.inputBudget.total))),
                    ("input_budget_closed", .integer(Int64(proxy.stats.inputBudgetClosed.current))),
                    ("loads_in_flight", .integer(Int64(proxy.reads.coalescer.inFlight))),
                    ("writes", .integer(Int64(proxy.sequencer.current))),
                ])
            ),
            (
                "tiers",
                .map([
                    (
                        "l1",
                        .map([
                            ("hits", .integer(Int64(l1Hits))),
                            ("misses", .integer(Int64(l1Misses))),
                            ("hit_ratio", StatsNode.ratio(l1Hits, of: l1Hits + l1Misses)),
                            ("entries", .integer(Int64(l1.total.entries))),
                            ("bytes", .integer(Int64(l1.bytes))),
                            ("max_bytes", .integer(Int64(l1.maxBytes))),
                            ("max_entries", .integer(Int64(l1.maxEntries ?? 0))),
                            ("eviction", .text(l1.eviction)),
                            ("evictions", .integer(Int64(l1.total.evictions))),
                            ("expirations", .integer(Int64(l1.total.expirations))),
                            (
                                "memory",
                                .map([
                                    ("entries", .integer(Int64(l1.storedEntries))),
                                    ("bytes_counted", .integer(Int64(l1.bytes))),
                                    ("keys_and_values", .integer(Int64(l1.bytes - l1.overheadBytes))),
                                    ("overhead", .integer(Int64(l1.overheadBytes))),
                                    ("overhead_per_entry", .integer(Int64(l1.entryOverhead))),
                                    ("policy_bytes", .integer(Int64(l1.policyBytes))),
                                ])
                            ),
                        ])
                    ),
                    ("l2", l2Report(hits: l2Hits, misses: l2Misses)),
                ])
            ),
            ("types", .map(types)),
            ("commands", .map(commands)),
            ("backend", .map(backend)),
            ("policy", policyStatus()),
            ("warming", warmingReport()),
            ("resilience", .map([("breakers", .map(breakerReports))])),
            ("alerts", proxy.alerts.report(now: proxy.clock.wallClockMicroseconds())),
            (
                "users",
                .map([
                    ("file", .text(proxy.users.file ?? "")),
                    ("count", .integer(Int64(proxy.users.all.count))),
                    ("reloads", .integer(Int64(proxy.users.reloads.load(ordering: .relaxed)))),
                    ("failed_reloads", .integer(Int64(proxy.users.failedReloads.load(ordering: .relaxed)))),
                    ("last_error", .text(proxy.users.lastError.withLock { $0 } ?? "")),
                ])
            ),
        ])
    }

    /// Warming progress per type, and whether none is under way.
    func warmingReport() -> StatsNode {
        let now = proxy.clock.monotonicNanoseconds()
        let types: [(String, StatsNode)] = proxy.warmer.snapshot.map { name, progress in
            var fields: [(String, StatsNode)] = [
                ("phase", .text(progress.phase.rawValue)),
                ("done", .integer(Int64(progress.done))),
                ("total", .integer(Int64(progress.total))),
                ("failed", .integer(Int64(progress.failed))),
                ("rate", .double(progress.rate)),
                ("seconds", .double(Double((progress.finishedAt ?? now) &- progress.startedAt) / 1e9)),
            ]
            if let error = progress.error { fields.append(("error", .text(error))) }
            return (name, .map(fields))
        }
        return .map([("ready", .integer(proxy.warmer.isReady ? 1 : 0)), ("types", .map(types))])
    }

    /// The running policy's version and the reloads since start-up (in `STATS` and `POLICY SHOW`).
    func policyStatus() -> StatsNode {
        let history = proxy.policies.history.withLock { $0 }
        let current = proxy.policies.current.withLock { $0.loaded }
        let now = proxy.clock.wallClockMicroseconds()
        var fields: [(String, StatsNode)] = [
            ("version", .text(current.digest)),
            ("types", .integer(Int64(current.types))),
            ("loaded_at_unix", .integer(Int64(current.loadedAtMicroseconds / 1_000_000))),
            ("loaded_seconds_ago", .integer(Int64((now &- current.loadedAtMicroseconds) / 1_000_000))),
            ("reloads", .integer(Int64(history.reloads))),
            ("reload_failures", .integer(Int64(history.failures))),
        ]
        if let error = history.lastError {
            fields.append(("last_error", .text(error.split(separator: "\n").joined(separator: "; "))))
            if let at = history.lastErrorAtMicroseconds {
                fields.append(("last_error_seconds_ago", .integer(Int64((now &- at) / 1_000_000))))
            }
        }
        return .map(fields)
    }

    /// The database's breaker, and Redis' when there is an L2.
    private var breakerReports: [(String, StatsNode)] {
        [("database", proxy.database.breaker.report)] + (proxy.l2.map { [("redis", $0.breaker.report)] } ?? [])
    }

    /// One type's part of the report, or nil if no such type.
    /// One data type's branch, by name.
    func tree(type name: String) -> StatsNode? {
        let l1 = proxy.l1.snapshot()
        if name == "default" {
            let fallback = proxy.policy.defaultType
            return typeReport(fallback.counters, l1: l1.group(fallback.group), ttl: fallback.policy.ttl?.seconds ?? 0)
        }
        guard let type = proxy.policy.types.first(where: { $0.name == name }) else { return nil }
        return typeReport(type.counters, l1: l1.group(type.group), ttl: type.policy.ttl.seconds)
    }

    private func typeReport(_ counters: TypeCounters, l1: L1GroupCounters, ttl: Double) -> StatsNode {
        let hits = counters.l1.hits.current
        let misses = counters.l1.misses.current
        return .map([
            (
                "l1",
                .map([
                    ("hits", .integer(Int64(hits))),
                    ("misses", .integer(Int64(misses))),
                    ("hit_ratio", StatsNode.ratio(hits, of: hits + misses)),
                    ("entries", .integer(Int64(l1.entries))),
                    ("bytes", .integer(Int64(l1.bytes))),
                    ("evictions", .integer(Int64(l1.evictions))),
                    ("expirations", .integer(Int64(l1.expirations))),
                ])
            ),
            (
                "l2",
                .map([
                    ("hits", .integer(Int64(counters.l2.hits.current))),
                    ("misses", .integer(Int64(counters.l2.misses.current))),
                    ("hit_ratio", counters.l2.hitRatio),
                    ("stale", .integer(Int64(counters.l2Stale.current))),
                ])
            ),
            ("loads", .integer(Int64(counters.loads.current))),
            ("loads_absent", .integer(Int64(counters.loadsAbsent.current))),
            ("load_errors", .integer(Int64(counters.loadErrors.current))),
            ("coalesced", .integer(Int64(counters.coalesced.current))),
            ("stale_hits", .integer(Int64(counters.staleHits.current))),
            ("revalidations", .integer(Int64(counters.revalidations.current))),
            ("refreshes", .integer(Int64(counters.refreshes.current))),
            ("invalidations", .integer(Int64(counters.invalidations.current))),
            ("ttl_seconds", .double(ttl)),
        ])
    }

    /// The shared tier: its link, its traffic and the invalidations through it.
    private func l2Report(hits: Int, misses: Int) -> StatsNode {
        guard let l2 = proxy.l2 else { return .map([("status", .text("off"))]) }
        let now = proxy.clock.wallClockMicroseconds()
        func seconds(since micros: UInt64) -> StatsNode { .double(Double(now > micros ? now - micros : 0) / 1e6) }
        var link: [(String, StatsNode)]
        switch l2.consistency.link {
        case .up(let since): link = [("status", .text("up")), ("since_seconds", seconds(since: since))]
        case .syncing(let since): link = [("status", .text("syncing")), ("since_seconds", seconds(since: since))]
        case .down(let since, let reason):
            link = [("status", .text("down")), ("since_seconds", seconds(since: since)), ("last_error", .text(reason))]
        }
        let stats = l2.stats
        return .map(
            link + [
                ("redis", .text("\(l2.configuration.url)")),
                ("prefix", .text(l2.configuration.prefix)),
                ("connections_up", .integer(Int64(l2.connectedConnections))),
                ("connections", .integer(Int64(l2.connectionCount))),
                ("hits", .integer(Int64(hits))),
                ("misses", .integer(Int64(misses))),
                ("hit_ratio", StatsNode.ratio(hits, of: hits + misses)),
                ("stale", .integer(Int64(stats.stale.current))),
                ("undecodable", .integer(Int64(stats.undecodable.current))),
                ("errors", .integer(Int64(stats.errors.current))),
                ("fills", .integer(Int64(stats.fills.current))),
                ("fills_refused", .integer(Int64(stats.fillsRefused.current))),
                ("round_trip", stats.roundTrip.summary().node),
                (
                    "invalidations",
                    .map([
                        ("sent", .integer(Int64(stats.invalidationsSent.current))),
                        ("deferred", .integer(Int64(stats.invalidationsDeferred.current))),
                        ("replayed", .integer(Int64(stats.invalidationsReplayed.current))),
                        ("pending", .integer(Int64(l2.consistency.pendingCount))),
                        ("received", .integer(Int64(stats.invalidationsReceived.current))),
                        ("lag", stats.invalidationLag.summary().node),
                    ])
                ),
                ("channel_losses", .integer(Int64(stats.channelLosses.current))),
            ]
        )
    }
}
