#if canImport(Glibc)
    import Glibc
#endif
import ArgumentParser
import TierCacheProtocol

/// `tiercache warm [type]`: asks a running proxy to warm (`WARM`) and shows each type's progress until warming is
/// done. `--check` only reports whether it is: exit 0 when ready, 1 while warming runs (a readiness probe).
struct WarmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warm",
        abstract: "Warm a running proxy's caches and show the progress; or check whether warming is done."
    )

    @OptionGroup var proxy: ProxyAddress

    @Flag(help: "Do not start warming: exit 0 if the proxy is ready (no warming under way), 1 if not.")
    var check = false

    @Flag(help: "Start warming and return at once.")
    var noWait = false

    @Argument(help: "Only this data type (it must have a warm statement).")
    var type: String?

    func run() throws {
        let (host, port) = try proxy.resolved()
        do {
            var client = try proxy.connect(host: host, port: port)
            if check {
                let ready = try warming(&client)?.child("ready").flatMap(Self.integer) == 1
                print(ready ? "ready" : "warming")
                throw ExitCode(ready ? 0 : 1)
            }
            let reply = try client.call(["WARM"] + (type.map { [$0] } ?? []))
            switch reply {
            case .error(let message):
                printErrors(["tiercache at \(host):\(port): \(message)"])
                throw ExitCode(1)
            default:
                print(reply.string ?? "\(reply)")
            }
            if noWait { return }
            try follow(&client)
        } catch let failure as RESPClient.Failure {
            printErrors(["tiercache warm: \(failure.description)"])
            throw ExitCode(1)
        }
    }

    private func warming(_ client: inout RESPClient) throws -> RESPValue? {
        try client.call(["STATS"]).child("warming")
    }

    /// Redraws a bar per type every 200 ms (on a terminal; one line per second otherwise) until warming is done.
    private func follow(_ client: inout RESPClient) throws {
        let terminal = isatty(STDOUT_FILENO) != 0
        var drawn = 0
        var lastPrinted = 0
        var ticks = 0
        while true {
            guard let warming = try warming(&client) else { return }
            let types = (warming.child("types")?.pairs ?? []).filter { type == nil || $0.key.string == type }
            let lines = types.map { pair in Self.line(pair.key.string ?? "?", pair.value) }
            let ready = warming.child("ready").flatMap(Self.integer) == 1
            if terminal {
                if drawn > 0 { print("\u{1B}[\(drawn)A", terminator: "") }
                for line in lines { print("\u{1B}[2K" + line) }
                drawn = lines.count
            } else if ready || ticks - lastPrinted >= 5 {
                lines.forEach { print($0) }
                lastPrinted = ticks
            }
            if ready {
                let failed = types.contains { $0.value.child("phase")?.string == "failed" }
                if failed { throw ExitCode(1) }
                return
            }
            ticks += 1
            usleep(200_000)
        }
    }

    private static func integer(_ value: RESPValue) -> Int? {
        if case .integer(let number) = value { return Int(number) }
        return nil
    }

    /// `item      [##########----------]  512/1024  loading  (0 failed)`.
    static func line(_ name: String, _ progress: RESPValue) -> String {
        let done = progress.child("done").flatMap(Self.integer) ?? 0
        let total = progress.child("total").flatMap(Self.integer) ?? 0
        let failed = progress.child("failed").flatMap(Self.integer) ?? 0
        let phase = progress.child("phase")?.string ?? "?"
        let width = 30
        let filled = total > 0 ? min(width, done * width / total) : (phase == "done" ? width : 0)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let padded = name + String(repeating: " ", count: max(0, 16 - name.count))
        var line = "\(padded) [\(bar)] \(done)/\(total) \(phase)"
        if failed > 0 { line += " (\(failed) failed)" }
        if let error = progress.child("error")?.string { line += ": \(error)" }
        return line
    }
}
