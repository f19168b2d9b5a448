import Dispatch
import Synchronization
import TierCacheProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// `tiercache stats --watch [INTERVAL]`: the figures redrawn in place every interval, as `varnishstat` and
/// `redis-cli --stat` do — rates per second over the last interval rather than totals since start-up. Ctrl-C ends
/// it cleanly (exit 0). Without a terminal, one block per interval, no screen control.
struct StatsWatch {
    let interval: Duration
    let type: String?

    /// Polls `STATS` through `client` until SIGINT or SIGTERM.
    func run(_ client: inout RESPClient, host: String, port: Int) throws {
        let stop = StopFlag()
        let sources = stop.raisedBy([SIGINT, SIGTERM])
        defer { sources.forEach { $0.cancel() } }
        let terminal = isatty(STDOUT_FILENO) != 0
        var previous: (RESPValue, ContinuousClock.Instant)?
        if terminal { print("\u{1B}[?25l", terminator: "") }  // hide the cursor while redrawing
        defer { if terminal { print("\u{1B}[?25h", terminator: "") } }
        while !stop.isRaised {
            let now = ContinuousClock.now
            let report = try client.call(["STATS"])
            if case .error(let message) = report {
                printErrors(["tiercache at \(host):\(port): \(message)"])
                return
            }
            let seconds = previous.map { Self.seconds(now - $0.1) }
            let screen = Self.render(report, since: previous?.0, seconds: seconds, type: type, host: host, port: port)
            if terminal {
                print("\u{1B}[H\u{1B}[2J" + screen, terminator: "")
            } else {
                print(screen)
            }
            fflush(nil)  // every stream: a pipe reader sees each block as it is drawn
            previous = (report, now)
            var waited = Duration.zero
            while waited < interval, !stop.isRaised {
                let step = min(.milliseconds(50), interval - waited)
                usleep(UInt32(step.components.attoseconds / 1_000_000_000_000 + step.components.seconds * 1_000_000))
                waited += step
            }
        }
        if terminal { print("") }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// One screen: the header, tiers and types as rates over the interval, commands with their rates and
    /// percentiles, breakers and alerts.
    static func render(
        _ report: RESPValue, since previous: RESPValue?, seconds: Double?, type: String?, host: String, port: Int
    ) -> String {
        func integer(_ value: RESPValue?) -> Int64 {
            if case .integer(let number)? = value { return number }
            if let double = value?.doubleValue { return Int64(double) }
            return 0
        }
        func rate(_ path: [String]) -> String {
            guard let previous, let seconds, seconds > 0 else { return "-" }
            let now = path.reduce(Optional(report)) { $0?.child($1) }
            let then = path.reduce(Optional(previous)) { $0?.child($1) }
            return StatsRenderer.formatted(Double(integer(now) - integer(then)) / seconds, decimals: 1)
        }
        func ratio(_ path: [String]) -> String {
            guard let previous else { return "-" }
            let node = { (root: RESPValue, key: String) in (path + [key]).reduce(Optional(root)) { $0?.child($1) } }
            let hits = integer(node(report, "hits")) - integer(node(previous, "hits"))
            let misses = integer(node(report, "misses")) - integer(node(previous, "misses"))
            guard hits + misses > 0 else { return "-" }
            return StatsRenderer.formatted(Double(hits) * 100 / Double(hits + misses), decimals: 1) + "%"
        }
        let server = report.child("server")
        let interval = seconds.map { "every \(StatsRenderer.formatted($0, decimals: 1))s" } ?? "first sample"
        var screen = "TierCache \(server?.child("version")?.string ?? "?") at \(host):\(port), "
        screen += "up \(integer(server?.child("uptime_seconds")))s, \(interval), Ctrl-C to stop\n"
        screen += "commands/s \(rate(["server", "commands_processed"]))  errors/s \(rate(["server", "error_replies"]))"
        screen += "  connections \(integer(server?.child("connections_open")))"
        screen += "  accepted/s \(rate(["server", "connections_total"]))\n\n"

        let l1 = report.child("tiers")?.child("l1")
        var tiers = [["TIER", "HITS/S", "MISSES/S", "HIT RATIO", "ENTRIES", "BYTES", "MAX BYTES", "EVICTIONS/S"]]
        tiers.append([
            "l1", rate(["tiers", "l1", "hits"]), rate(["tiers", "l1", "misses"]), ratio(["tiers", "l1"]),
            String(integer(l1?.child("entries"))), String(integer(l1?.child("bytes"))),
            String(integer(l1?.child("max_bytes"))), rate(["tiers", "l1", "evictions"]),
        ])
        if report.child("tiers")?.child("l2")?.child("status")?.string != "off" {
            tiers.append([
                "l2", rate(["tiers", "l2", "hits"]), rate(["tiers", "l2", "misses"]), ratio(["tiers", "l2"]), "-", "-",
                "-", "-",
            ])
        }
        screen += StatsRenderer.table(tiers) + "\n"

        var types = [["TYPE", "L1 HITS/S", "L1 MISSES/S", "L1 RATIO", "L2 RATIO", "LOADS/S", "ERRORS/S", "ENTRIES"]]
        for pair in report.child("types")?.pairs ?? [] {
            guard let name = pair.key.string, type == nil || type == name else { continue }
            types.append([
                name, rate(["types", name, "l1", "hits"]), rate(["types", name, "l1", "misses"]),
                ratio(["types", name, "l1"]), ratio(["types", name, "l2"]), rate(["types", name, "loads"]),
                rate(["types", name, "load_errors"]), String(integer(pair.value.child("l1")?.child("entries"))),
            ])
        }
        screen += StatsRenderer.table(types) + "\n"

        var commands = [["COMMAND", "CALLS/S", "P50 µs SINCE START", "P99 µs SINCE START"]]
        for pair in report.child("commands")?.pairs ?? [] where pair.value.child("count") != nil {
            guard let name = pair.key.string else { continue }
            commands.append([
                name, rate(["commands", name, "count"]),
                StatsRenderer.formatted(pair.value.child("p50_us")?.doubleValue ?? 0, decimals: 1),
                StatsRenderer.formatted(pair.value.child("p99_us")?.doubleValue ?? 0, decimals: 1),
            ])
        }
        if commands.count > 1 { screen += StatsRenderer.table(commands) + "\n" }

        let breakers = (report.child("resilience")?.child("breakers")?.pairs ?? []).map { pair in
            "\(pair.key.string ?? "?") \(pair.value.child("state")?.string ?? "?")"
        }
        screen += "BREAKERS " + breakers.joined(separator: ", ")
        let alerts = report.child("alerts")
        let firing = (alerts?.child("rules")?.pairs ?? []).filter { $0.value.child("state")?.string == "firing" }
        screen +=
            "   ALERTS " + (firing.isEmpty ? "none firing" : firing.compactMap(\.key.string).joined(separator: ", "))
        return screen + "\n"
    }
}

/// Raised by a signal, which then no longer ends the process by itself.
final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    var isRaised: Bool { raised.load(ordering: .relaxed) }

    /// Raises the flag on each of `signals`; the sources must live as long as the flag is watched.
    func raisedBy(_ signals: [Int32]) -> [any DispatchSourceSignal] {
        signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { self.raised.store(true, ordering: .relaxed) }
            source.resume()
            return source
        }
    }
}
