#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization
import TierCacheStats
import TierCacheSupport

/// `INFO [section …]` in Redis' format (`# Section` headers, `field:value` lines, CRLF), with Redis' field names
/// meaning what they mean in Redis as far as a cache proxy has them: clients that read `INFO` (ioredis' ready check,
/// `redis-cli --stat`, monitoring agents) work unchanged. What is TierCache's own is in a `# TierCache` section.
struct InfoReport {
    let proxy: Proxy

    init(_ proxy: Proxy) { self.proxy = proxy }

    /// The sections, in Redis' order; `default` and `all` name them all (TierCache has nothing that only `all`
    /// would add).
    static let infoSections = ["server", "clients", "memory", "persistence", "stats", "keyspace", "tiercache"]

    /// The `INFO` text for `names` (lower-cased section names; empty, `default`, `all` or `everything`: all of
    /// them). Unknown section names are skipped, as Redis does.
    func text(sections names: [String]) -> String {
        let everything = names.isEmpty || names.contains { ["default", "all", "everything"].contains($0) }
        let wanted = Self.infoSections.filter { everything || names.contains($0) }
        let report = StatsReport(proxy).tree()
        var text = ""
        for section in wanted {
            if !text.isEmpty { text += "\r\n" }
            text += "# \(section == "tiercache" ? "TierCache" : section.prefix(1).uppercased() + section.dropFirst())\r\n"
            for (field, value) in infoFields(section, report: report) { text += "\(field):\(value)\r\n" }
        }
        return text
    }

    private func infoFields(_ section: String, report: StatsNode) -> [(String, String)] {
        let server = report["server"]
        let l1 = report["tiers"]?["l1"]
        func integer(_ node: StatsNode?) -> String {
            if case .integer(let value)? = node { return "\(value)" }
            return "0"
        }
        let uptime = Int64((proxy.clock.monotonicNanoseconds() &- proxy.startedAt) / 1_000_000_000)
        switch section {
        case "server":
            return [
                // The Redis version whose commands' replies TierCache gives (clients gate features on it).
                ("redis_version", Self.redisCompatibilityVersion),
                ("redis_mode", "standalone"),
                ("tiercache_version", TierCacheVersion.string),
                ("os", "Linux"),
                ("arch_bits", "64"),
                ("process_id", "\(getpid())"),
                ("tcp_port", "\(proxy.configuration.port)"),
                ("uptime_in_seconds", "\(uptime)"),
                ("uptime_in_days", "\(uptime / 86_400)"),
            ]
        case "clients":
            return [
                ("connected_clients", integer(server?["connections_open"])),
                ("blocked_clients", "0"),
                ("maxclients", "\(proxy.configuration.maxClients)"),
            ]
        case "memory":
            let used = integer(l1?["bytes"])
            let max = integer(l1?["max_bytes"])
            return [
                // The L1 tier's bytes: what this process holds of cached data, and its bound.
                ("used_memory", used),
                ("used_memory_human", Self.human(Int64(used) ?? 0)),
                ("used_memory_rss", "\(Self.residentBytes())"),
                ("maxmemory", max),
                ("maxmemory_human", Self.human(Int64(max) ?? 0)),
                ("maxmemory_policy", "allkeys-lru"),
            ]
        case "persistence":
            // TierCache keeps nothing of its own on disk (the database does): never loading, nothing to save.
            return [("loading", "0"), ("rdb_changes_since_last_save", "0"), ("aof_enabled", "0")]
        case "stats":
            return [
                ("total_connections_received", integer(server?["connections_total"])),
                ("total_commands_processed", integer(server?["commands_processed"])),
                ("instantaneous_ops_per_sec", "\(proxy.operationRate.perSecond)"),
                ("rejected_connections", integer(server?["rejected_connections"])),
                ("expired_keys", integer(l1?["expirations"])),
                ("evicted_keys", integer(l1?["evictions"])),
                // Hits and misses of the L1 tier, as Redis counts its keyspace's.
                ("keyspace_hits", integer(l1?["hits"])),
                ("keyspace_misses", integer(l1?["misses"])),
                ("total_error_replies", integer(server?["error_replies"])),
            ]
        case "keyspace":
            // Every L1 entry expires: keys and expires are both the entries held.
            let entries = integer(l1?["entries"])
            return entries == "0" ? [] : [("db0", "keys=\(entries),expires=\(entries),avg_ttl=0")]
        default:
            var fields: [(String, String)] = [
                ("l1_hits", integer(l1?["hits"])),
                ("l1_misses", integer(l1?["misses"])),
                ("l1_entries", integer(l1?["entries"])),
                ("l2_status", Self.text(report["tiers"]?["l2"]?["status"]) ?? "off"),
                ("l2_hits", integer(report["tiers"]?["l2"]?["hits"])),
                ("l2_misses", integer(report["tiers"]?["l2"]?["misses"])),
            ]
            if case .map(let breakers)? = report["resilience"]?["breakers"] {
                for (name, breaker) in breakers {
                    fields.append(("breaker_\(name)", Self.text(breaker["state"]) ?? "?"))
                }
            }
            if case .map(let types)? = report["types"] {
                fields.append(("types", "\(types.count)"))
                // One line a type, in the shape of Keyspace's `db0:` lines.
                for (name, type) in types {
                    let l1 = type["l1"]
                    fields.append(
                        (
                            "type_\(name)",
                            "l1_hits=\(integer(l1?["hits"])),l1_misses=\(integer(l1?["misses"])),"
                                + "entries=\(integer(l1?["entries"])),loads=\(integer(type["loads"]))"
                        ))
                }
            }
            return fields
        }
    }

    /// The Redis version TierCache answers as: the one whose protocol and replies it follows.
    static let redisCompatibilityVersion = "7.0.15"

    private static func text(_ node: StatsNode?) -> String? {
        if case .text(let value)? = node { return value }
        return nil
    }

    /// `1.50M`, as Redis' `*_human` fields.
    private static func human(_ bytes: Int64) -> String {
        let units: [(Int64, String)] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
        for (size, unit) in units where bytes >= size {
            let hundredths = bytes * 100 / size
            let fraction = hundredths % 100
            return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)\(unit)"
        }
        return "\(bytes)B"
    }

    /// The process' resident memory, from `/proc/self/statm` (pages); 0 where that is missing.
    private static func residentBytes() -> Int {
        let descriptor = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return 0 }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return 0 }
        // "size resident shared …", in pages.
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Commands per second over the last second or so, for `INFO`'s `instantaneous_ops_per_sec`: the server samples
/// the command count with its upkeep (every 250 ms) and keeps the rate over the last four samples.
final class OperationRate: Sendable {
    private let samples = Mutex<[(time: UInt64, count: Int)]>([])

    /// Records the command count at `now`.
    func sample(now: UInt64, count: Int) {
        samples.withLock { samples in
            samples.append((now, count))
            if samples.count > 5 { samples.removeFirst(samples.count - 5) }
        }
    }

    var perSecond: Int {
        samples.withLock { samples in
            guard let first = samples.first, let last = samples.last, last.time > first.time else { return 0 }
            return Int(Double(last.count - first.count) * 1e9 / Double(last.time - first.time))
        }
    }
}
