import ArgumentParser
import TierCacheProtocol

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show a running proxy's hit rates, entries and latency percentiles."
    )

    @OptionGroup var proxy: ProxyAddress

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Flag(
        help: """
            Redraw the figures in place every second (or every INTERVAL, given after it: --watch 5s), as rates per \
            second; Ctrl-C stops.
            """)
    var watch = false

    @Argument(help: "Only this data type (with --watch, a duration here is the interval).")
    var type: String?

    func run() throws {
        let (host, port) = try proxy.resolved()
        if watch {
            // `--watch 2s`: a type name never starts with a digit, a duration always does.
            var interval = Duration.seconds(1)
            var only = type
            if let text = type, text.first?.isNumber == true {
                guard let parsed = ServeCommand.parseDuration(text) else {
                    throw ValidationError("--watch takes an interval like 1s, 500ms or 2; got '\(text)'")
                }
                interval = parsed
                only = nil
            }
            do {
                var client = try proxy.connect(host: host, port: port)
                try StatsWatch(interval: interval, type: only).run(&client, host: host, port: port)
            } catch let failure as RESPClient.Failure {
                printErrors(["tiercache stats: \(failure.description)"])
                throw ExitCode(1)
            }
            return
        }
        let reply: RESPValue
        do {
            var client = try proxy.connect(host: host, port: port)
            reply = try client.call(["STATS"] + (type.map { [$0] } ?? []))
        } catch let failure as RESPClient.Failure {
            printErrors(["tiercache stats: \(failure.description)"])
            throw ExitCode(1)
        }
        if case .error(let message) = reply {
            printErrors(["tiercache at \(host):\(port): \(message)"])
            throw ExitCode(1)
        }
        print(json ? StatsRenderer.json(reply) : StatsRenderer.text(reply, title: type), terminator: "")
    }
}
