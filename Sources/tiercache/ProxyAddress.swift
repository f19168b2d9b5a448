import ArgumentParser
import TierCacheProtocol

/// Where a running proxy is, for the subcommands that talk to one (`stats`, `warm`), and the connection to it.
struct ProxyAddress: ParsableArguments {
    @Option(help: "Proxy host (TIERCACHE_HOST).")
    var host: String?

    @Option(help: "Proxy port (TIERCACHE_PORT).")
    var port: Int?

    @Option(help: "User to log in as with --password, from the proxy's users file (TIERCACHE_USER; default: default).")
    var user: String?

    @Option(help: "Password, if the proxy requires one (TIERCACHE_REQUIREPASS).")
    var password: String?

    /// `host:port` after the environment is taken into account.
    func resolved() throws -> (host: String, port: Int) {
        let host = Environment.resolve(host, "TIERCACHE_HOST", default: "127.0.0.1")
        let portText = port.map(String.init) ?? Environment.resolve(nil, "TIERCACHE_PORT", default: "6380")
        guard let port = Int(portText) else { throw ValidationError("--port must be a number; got '\(portText)'") }
        return (host, port)
    }

    /// A RESP3 connection, authenticated as the user (`default` unless named) when a password is given. A refused
    /// HELLO is printed and exits 1; a connection that fails throws `RESPClient.Failure` for the caller to name
    /// itself in.
    func connect(host: String, port: Int) throws -> RESPClient {
        var client = try RESPClient(host: host, port: port)
        var hello = ["HELLO", "3"]
        if let password = password ?? Environment.value("TIERCACHE_REQUIREPASS") {
            hello += ["AUTH", Environment.resolve(user, "TIERCACHE_USER", default: "default"), password]
        }
        if case .error(let message) = try client.call(hello) {
            printErrors(["tiercache at \(host):\(port) refused HELLO: \(message)"])
            throw ExitCode(1)
        }
        return client
    }
}
