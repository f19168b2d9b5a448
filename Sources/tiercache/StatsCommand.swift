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

    @Argument(help: "Only this data type.")
    var type: String?

    func run() throws {
        let (host, port) = try proxy.resolved()
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
