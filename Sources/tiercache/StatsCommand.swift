import ArgumentParser
import TierCacheProtocol

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show a running proxy's hit rates, entries and latency percentiles."
    )

    @Option(help: "Proxy host (TIERCACHE_HOST).")
    var host: String?

    @Option(help: "Proxy port (TIERCACHE_PORT).")
    var port: Int?

    @Option(help: "Password, if the proxy requires one (TIERCACHE_REQUIREPASS).")
    var password: String?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Argument(help: "Only this data type.")
    var type: String?

    func run() throws {
        let host = Environment.resolve(host, "TIERCACHE_HOST", default: "127.0.0.1")
        let portText = port.map(String.init) ?? Environment.resolve(nil, "TIERCACHE_PORT", default: "6380")
        guard let port = Int(portText) else { throw ValidationError("--port must be a number; got '\(portText)'") }
        let reply: RESPValue
        do {
            var client = try RESPClient(host: host, port: port)
            var hello = ["HELLO", "3"]
            if let password = password ?? Environment.value("TIERCACHE_REQUIREPASS") {
                hello += ["AUTH", "default", password]
            }
            if case .error(let message) = try client.call(hello) {
                printErrors(["tiercache at \(host):\(port) refused HELLO: \(message)"])
                throw ExitCode(1)
            }
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
