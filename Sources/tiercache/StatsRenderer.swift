import TierCacheProtocol
import TierCacheStats

/// Renders a `STATS` reply as tables for people or as JSON for scripts.
enum StatsRenderer {
    // MARK: Text

    static func text(_ report: RESPValue, title: String?) -> String {
        guard report.child("server") != nil else {
            // One type's report (or an unknown shape): indented key/value lines.
            return (title.map { "\($0)\n" } ?? "") + outline(report, indent: title == nil ? 0 : 2)
        }
        var output = ""
        if let server = report.child("server") {
            output += "TierCache \(server.child("version")?.string ?? "?")"
            output += ", up \(number(server.child("uptime_seconds")))s"
            output += ", \(number(server.child("connections_open"))) connections open"
            output += ", \(number(server.child("commands_processed"))) commands"
            output += ", \(number(server.child("error_replies"))) errors\n\n"
        }
        if let tiers = report.child("tiers")?.pairs {
            var rows = [["TIER", "HITS", "MISSES", "HIT RATIO", "ENTRIES", "BYTES", "MAX BYTES", "EVICTIONS"]]
            for pair in tiers {
                let tier = pair.value
                rows.append([
                    pair.key.string ?? "?", number(tier.child("hits")), number(tier.child("misses")),
                    percent(tier.child("hit_ratio")), number(tier.child("entries")), number(tier.child("bytes")),
                    number(tier.child("max_bytes")), number(tier.child("evictions")),
                ])
            }
            output += table(rows) + "\n"
            if let l1 = report.child("tiers")?.child("l1") { output += l1Summary(l1) }
            if let l2 = report.child("tiers")?.child("l2") { output += l2Summary(l2) }
        }
        if let types = report.child("types")?.pairs {
            var rows = [
                [
                    "TYPE", "L1 HITS", "L1 MISSES", "HIT RATIO", "ENTRIES", "BYTES", "EVICTIONS", "L2 HITS",
                    "L2 MISSES", "LOADS", "LOAD ERRORS", "TTL S",
                ]
            ]
            for pair in types {
                let type = pair.value
                let l1 = type.child("l1")
                rows.append([
                    pair.key.string ?? "?", number(l1?.child("hits")), number(l1?.child("misses")),
                    percent(l1?.child("hit_ratio")), number(l1?.child("entries")), number(l1?.child("bytes")),
                    number(l1?.child("evictions")), number(type.child("l2")?.child("hits")),
                    number(type.child("l2")?.child("misses")), number(type.child("loads")),
                    number(type.child("load_errors")),
                    number(type.child("ttl_seconds")),
                ])
            }
            output += table(rows) + "\n"
        }
        for (section, heading) in [("commands", "COMMAND"), ("backend", "BACKEND OP")] {
            guard let entries = report.child(section)?.pairs else { continue }
            var rows = [[heading, "COUNT", "P50 µs", "P90 µs", "P99 µs", "P99.9 µs", "MAX µs"]]
            for pair in entries where pair.value.child("count") != nil {
                let latency = pair.value
                rows.append([
                    pair.key.string ?? "?", number(latency.child("count")), number(latency.child("p50_us")),
                    number(latency.child("p90_us")), number(latency.child("p99_us")),
                    number(latency.child("p99.9_us")), number(latency.child("max_us")),
                ])
            }
            if rows.count > 1 { output += table(rows) + "\n" }
        }
        output += resilienceSummary(report)
        if let policy = report.child("policy") {
            output += "POLICY version \(policy.child("version")?.string ?? "?"), \(number(policy.child("types"))) types"
            output += ", loaded \(number(policy.child("loaded_seconds_ago")))s ago"
            output += ", \(number(policy.child("reloads"))) reloads, \(number(policy.child("reload_failures"))) refused\n"
            if let error = policy.child("last_error")?.string { output += "  last error: \(error)\n" }
        }
        if let warming = report.child("warming") {
            output += "WARMING \(number(warming.child("ready")) == "1" ? "done (ready)" : "under way")"
            for pair in warming.child("types")?.pairs ?? [] {
                let type = pair.value
                output += "; \(pair.key.string ?? "?") \(type.child("phase")?.string ?? "?")"
                output += " \(number(type.child("done")))/\(number(type.child("total")))"
                if number(type.child("failed")) != "0" { output += " (\(number(type.child("failed"))) failed)" }
            }
            output += "\n"
        }
        return output
    }

    /// The database's connection pools and health, and the circuit breakers.
    private static func resilienceSummary(_ report: RESPValue) -> String {
        var output = ""
        if let pools = report.child("backend")?.child("pools")?.pairs {
            output += "DATABASE " + pools.map { pair in
                let pool = pair.value
                return "\(pair.key.string ?? "?") \(number(pool.child("in_use")))/\(number(pool.child("size"))) in use, "
                    + "\(number(pool.child("waiting"))) waiting, \(number(pool.child("timeouts"))) timed out"
            }.joined(separator: "; ")
            if let health = report.child("backend")?.child("health") {
                output += "; health \(health.child("status")?.string ?? "?")"
                output += " (\(number(health.child("checks"))) checks, \(number(health.child("failures"))) failed"
                output += ", \(number(health.child("reopened"))) reopened)"
                if let problem = health.child("problem")?.string { output += "\n  problem: \(problem)" }
            }
            output += "\n\n"
        }
        if let breakers = report.child("resilience")?.child("breakers")?.pairs {
            var rows = [["BREAKER", "STATE", "FOR S", "CALLS", "FAILED", "SLOW", "OPENED", "REJECTED"]]
            for pair in breakers {
                let breaker = pair.value
                rows.append([
                    pair.key.string ?? "?", breaker.child("state")?.string ?? "?",
                    number(breaker.child("seconds_in_state")), number(breaker.child("window_calls")),
                    percent(breaker.child("failure_rate")), percent(breaker.child("slow_rate")),
                    number(breaker.child("opened")), number(breaker.child("rejected")),
                ])
            }
            output += table(rows) + "\n"
        }
        return output
    }

    /// The shared tier's link and traffic in a few lines.
    /// The eviction policy and what the bytes counted are made of.
    private static func l1Summary(_ l1: RESPValue) -> String {
        var output = "L1 eviction \(l1.child("eviction")?.string ?? "?")"
        let maxEntries = number(l1.child("max_entries"))
        output += maxEntries == "0" ? ", no entry bound" : ", at most \(maxEntries) entries"
        if let memory = l1.child("memory") {
            output += "; \(number(memory.child("bytes_counted"))) bytes counted = "
            output += "\(number(memory.child("keys_and_values"))) keys and values + \(number(memory.child("overhead")))"
            output += " overhead (\(number(memory.child("overhead_per_entry"))) per entry, sketch "
            output += "\(number(memory.child("policy_bytes"))))"
        }
        return output + "\n\n"
    }

    private static func l2Summary(_ l2: RESPValue) -> String {
        let status = l2.child("status")?.string ?? "?"
        guard status != "off" else { return "L2 off (no --redis)\n\n" }
        var output = "L2 \(status) for \(number(l2.child("since_seconds")))s"
        output += ", \(l2.child("redis")?.string ?? "?") prefix \(l2.child("prefix")?.string ?? "?")"
        output += ", \(number(l2.child("connections_up")))/\(number(l2.child("connections"))) connections up\n"
        if let error = l2.child("last_error")?.string { output += "  last error: \(error)\n" }
        output += "  stale \(number(l2.child("stale"))), undecodable \(number(l2.child("undecodable")))"
        output += ", errors \(number(l2.child("errors"))), fills \(number(l2.child("fills")))"
        output += " (\(number(l2.child("fills_refused"))) refused)"
        output += ", round trip p99 \(number(l2.child("round_trip")?.child("p99_us"))) µs\n"
        if let invalidations = l2.child("invalidations") {
            output += "  invalidations sent \(number(invalidations.child("sent")))"
            output += ", received \(number(invalidations.child("received")))"
            output += " (lag p99 \(number(invalidations.child("lag")?.child("p99_us"))) µs)"
            output += ", deferred \(number(invalidations.child("deferred")))"
            output += ", replayed \(number(invalidations.child("replayed")))"
            output += ", pending \(number(invalidations.child("pending")))"
            output += ", channel losses \(number(l2.child("channel_losses")))\n"
        }
        return output + "\n"
    }

    private static func outline(_ value: RESPValue, indent: Int) -> String {
        guard let pairs = value.pairs else { return String(repeating: " ", count: indent) + scalar(value) + "\n" }
        var output = ""
        for pair in pairs {
            let name = pair.key.string ?? "?"
            if pair.value.pairs != nil {
                output += String(repeating: " ", count: indent) + name + ":\n"
                output += outline(pair.value, indent: indent + 2)
            } else {
                output += String(repeating: " ", count: indent) + name + ": " + scalar(pair.value) + "\n"
            }
        }
        return output
    }

    static func table(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in
            rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                // Names left-aligned, numbers right-aligned.
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    private static func number(_ value: RESPValue?) -> String {
        guard let value else { return "-" }
        return scalar(value)
    }

    private static func percent(_ value: RESPValue?) -> String {
        guard let ratio = value?.doubleValue else { return "-" }
        return formatted(ratio * 100, decimals: 1) + "%"
    }

    private static func scalar(_ value: RESPValue) -> String {
        switch value {
        case .integer(let number): return String(number)
        case .double(let number): return formatted(number, decimals: number.rounded() == number ? 0 : 2)
        case .null: return "nil"
        default: return value.string ?? "\(value)"
        }
    }

    static func formatted(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return String(value) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value * scale).rounded()
        let whole = Int64(scaled / scale)
        guard decimals > 0 else { return String(whole) }
        let fraction = Int64(abs(scaled) - abs(Double(whole) * scale))
        var fractionText = String(fraction)
        while fractionText.count < decimals { fractionText = "0" + fractionText }
        let sign = value < 0 && whole == 0 ? "-" : ""
        return "\(sign)\(whole).\(fractionText)"
    }

    // MARK: JSON

    static func json(_ value: RESPValue) -> String {
        var output = ""
        writeJSON(value, into: &output, indent: 0)
        return output + "\n"
    }

    private static func writeJSON(_ value: RESPValue, into output: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent + 1)
        let closing = String(repeating: "  ", count: indent)
        if let pairs = value.pairs, !isPlainArray(value) {
            guard !pairs.isEmpty else {
                output += "{}"
                return
            }
            output += "{\n"
            for (index, pair) in pairs.enumerated() {
                output += pad + jsonString(pair.key.string ?? "\(pair.key)") + ": "
                writeJSON(pair.value, into: &output, indent: indent + 1)
                output += index + 1 < pairs.count ? ",\n" : "\n"
            }
            output += closing + "}"
            return
        }
        switch value {
        case .integer(let number): output += String(number)
        case .double(let number): output += number.isFinite ? String(number) : "null"
        case .boolean(let flag): output += flag ? "true" : "false"
        case .null: output += "null"
        case .array(let items), .set(let items), .push(let items):
            output +=
                "["
                + items.map { item in
                    var text = ""
                    writeJSON(item, into: &text, indent: indent + 1)
                    return text
                }.joined(separator: ", ") + "]"
        default: output += jsonString(value.string ?? "\(value)")
        }
    }

    /// RESP3 replies are maps; arrays stay arrays (an even-length array is not read as pairs here).
    private static func isPlainArray(_ value: RESPValue) -> Bool {
        if case .array = value { return true }
        return false
    }

    private static func jsonString(_ text: String) -> String { JSONText.quoted(text) }
}

extension RESPValue {
    /// The value under `key` in a map (or a flat field/value array).
    func child(_ key: String) -> RESPValue? {
        pairs?.first { $0.key.string == key }?.value
    }

    var doubleValue: Double? {
        switch self {
        case .double(let value): value
        case .integer(let value): Double(value)
        default: string.flatMap(Double.init)
        }
    }
}
