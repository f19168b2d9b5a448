import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Synchronization
import TestSupport
import TierCacheBackend
import TierCachePostgres

/// The PostgreSQL server these tests run against: `TIERCACHE_TEST_POSTGRES` when set (scripts/test.sh starts one
/// for the whole run), else one started here by scripts/postgres-server.sh for this test process and stopped by
/// pid at its exit.
enum PostgresTestServer {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    static let url: Result<PostgresURL, Unavailable> = {
        do {
            let text = try ProcessInfo.processInfo.environment["TIERCACHE_TEST_POSTGRES"] ?? startOwn()
            guard case .postgres(let url) = try DatabaseURL(parsing: text) else {
                return .failure(Unavailable(description: "not a postgres:// URL: \(text)"))
            }
            return .success(url)
        } catch let error as Unavailable {
            return .failure(error)
        } catch {
            return .failure(Unavailable(description: "\(error)"))
        }
    }()

    /// The folder of the server started here, removed at exit.
    private static let ownFolder = Mutex<String?>(nil)

    private static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/postgres-server.sh")
    }

    private static func startOwn() throws -> String {
        let (status, printed) = try ChildProcess.run([script.path, "start"])
        // Its last line is "DIR URL"; anything before it is what the tools said on the way.
        let lastLine = printed.split(separator: "\n").last ?? ""
        let parts = lastLine.split(separator: " ").map(String.init)
        guard status == 0, parts.count == 2 else {
            throw Unavailable(description: "scripts/postgres-server.sh start failed: \(printed)")
        }
        ownFolder.withLock { $0 = parts[0] }
        atexit {
            guard let folder = PostgresTestServer.ownFolder.withLock({ $0 }) else { return }
            _ = try? ChildProcess.run([PostgresTestServer.script.path, "stop", folder])
        }
        return parts[1]
    }

    /// Runs `body` with a running client of the test server's database (`maximumConnections`: to make every call
    /// use the same connection).
    @discardableResult
    static func withStatements<T: Sendable>(
        maximumConnections: Int? = nil,
        _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        var configuration = try url.get().clientConfiguration
        if let maximumConnections { configuration.options.maximumConnections = maximumConnections }
        let client = PostgresClient(
            configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            backgroundLogger: Logger(label: "test.postgres"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
