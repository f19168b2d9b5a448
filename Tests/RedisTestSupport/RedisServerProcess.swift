import Glibc
import TestSupport
import TierCacheRedis

/// A real `redis-server` on a free loopback port, started by a test and stopped by pid.
///
/// Spawned by `ChildProcess` (an empty signal mask: redis-server must hear SIGTERM), reaped with `waitpid`.
public final class RedisServerProcess {
    /// The `redis-server` binary on `PATH`, or `nil`.
    public static let executable: String? = {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/redis-server"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }()

    public static let isCI = getenv("CI").map { String(cString: $0) } == "true"

    /// Tests run when `redis-server` exists; under `CI=true` they run anyway, so a missing binary fails them.
    public static let enabled = executable != nil || isCI

    public private(set) var port: Int
    public let extraArguments: [String]
    private var pid: pid_t?

    public var url: RedisURL { try! RedisURL(parsing: "redis://127.0.0.1:\(port)") }

    /// Starts a server and waits until it answers PING.
    ///
    /// Without a `port`, a free one is chosen; if the server does not come up there (another test's server took
    /// the port between our probe and its bind), another port is tried, three in all.
    public init(port: Int? = nil, arguments: [String] = []) throws {
        self.extraArguments = arguments
        self.port = try port ?? Self.freePort()
        var attemptsLeft = port == nil ? 3 : 1
        while true {
            do {
                try start()
                return
            } catch {
                attemptsLeft -= 1
                if attemptsLeft == 0 { throw error }
                self.port = try Self.freePort()
            }
        }
    }

    deinit { stop() }

    public func start() throws {
        guard let executable = Self.executable else {
            throw TestFailure("redis-server is not installed (CI=true requires it)")
        }
        let arguments =
            [executable, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + extraArguments
        pid = try Self.spawn(arguments)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let connection = try? RedisConnection(
                url: url, connectTimeout: .milliseconds(200), commandTimeout: .milliseconds(500)),
                let reply = try? connection.command("PING")
            {
                // With --requirepass, PING answers NOAUTH: the server is up all the same.
                if case .status = reply { return }
                if case .error = reply { return }
            }
            if let pid, waitpid(pid, nil, WNOHANG) == pid {
                self.pid = nil
                break
            }
            usleep(10_000)
        }
        stop()
        throw TestFailure("redis-server on port \(port) did not answer PING")
    }

    /// SIGKILL, no goodbye to clients; reaps the child.
    public func kill9() {
        guard let pid else { return }
        self.pid = nil
        kill(pid, SIGKILL)
        waitpid(pid, nil, 0)
    }

    /// SIGSTOP or SIGCONT: a server that hangs with its connections open.
    public func send(signal: Int32) {
        if let pid { kill(pid, signal) }
    }

    /// SIGTERM, then SIGKILL if it has not exited within 3 s; reaps the child either way.
    public func stop() {
        guard let pid else { return }
        self.pid = nil
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            if waitpid(pid, nil, WNOHANG) != 0 { return }
            usleep(5_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, nil, 0)
    }

    private static func spawn(_ arguments: [String]) throws -> pid_t {
        do {
            return try ChildProcess.spawn(arguments)
        } catch {
            throw TestFailure(error.description)
        }
    }

    /// A port nothing listens on right now: bind a socket to port 0 and read what the kernel chose.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw TestFailure("cannot bind a loopback socket") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
