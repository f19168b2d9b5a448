import Foundation
import Logging
import NIOCore
import NIOPosix
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheSQLite
@testable import TierCacheServer
import TierCacheSupport


/// A proxy over a fresh SQLite file with two types reading one table, for read/write path tests.
///
/// With `sharing` it opens another harness' database instead (two sidecars on one file); with `l2` its proxy
/// uses that Redis tier, started at once and stopped on deinit.
final class ProxyTestHarness {
    let directory: URL
    let backend: SQLiteBackend
    /// The backend the proxy calls: the SQLite file behind a gate tests can close around one read.
    let gate: GatedBackend
    let proxy: Proxy
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let threadPool = NIOThreadPool(numberOfThreads: 2)
    private let ownsDirectory: Bool
    private var upkeep: RepeatedTask?

    /// - Parameters:
    ///   - configure: changes to the default configuration (limits, timeouts).
    ///   - clock: the proxy's clock (a `TestClock` moves only when told).
    ///   - adapter: the backend adapter over the (gated) SQLite backend; by default the server's own
    ///     `BlockingBackendAdapter` on the harness' thread pool.
    init(
        sharing other: ProxyTestHarness? = nil,
        l2: L2Configuration? = nil,
        clock: any ServerClock = SystemClock(),
        configure: (inout ServerConfiguration) -> Void = { _ in },
        adapter makeAdapter: ((any Backend) -> any BackendAdapter)? = nil
    ) throws {
        ownsDirectory = other == nil
        directory =
            other?.directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("tiercache-proxy-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        backend = try SQLiteBackend(path: directory.appendingPathComponent("test.db").path)
        gate = GatedBackend(backend)
        if other == nil { try Self.createSchema(backend) }
        let policies = try PolicyLoader.parse(yaml: Self.policyYAML, file: "test.yaml").get()
        threadPool.start()
        var configuration = ServerConfiguration(l2: l2)
        // Most tests write with SQL.EXEC; the default (off) is tested through the binary.
        configuration.sqlExec = true
        configure(&configuration)
        let policySet = try PolicySet.merge([policies])
        let adapter =
            makeAdapter?(gate) ?? BlockingBackendAdapter(gate, threadPool: threadPool, now: clock.monotonicNanoseconds)
        let validation = try PolicyValidation.validate(policySet, against: adapter, on: group.next()).wait()
        proxy = try Proxy(
            configuration: configuration,
            policy: policySet,
            validation: validation,
            adapter: adapter,
            eventLoopGroup: group,
            logger: Self.quietLogger,
            clock: clock
        )
        proxy.start()
        // What the server's upkeep task does every 250 ms.
        upkeep = group.next().scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) {
            [proxy] _ in proxy.maintain()
        }
    }

    /// Expected Redis outages log warnings; tests read counters instead.
    static let quietLogger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    private static func createSchema(_ backend: SQLiteBackend) throws {
        try backend.executeScript(
            """
            CREATE TABLE items (id TEXT PRIMARY KEY, data TEXT NOT NULL, owner TEXT NOT NULL DEFAULT 'x');
            INSERT INTO items(id, data) VALUES ('1', 'one'), ('2', 'two');
            CREATE TABLE numbered (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
            INSERT INTO numbered(id, data) VALUES (1, 'one');
            CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
            INSERT INTO notes(body) VALUES ('a'), ('b');
            """
        )
    }

    static let policyYAML = """
                types:
                  item:
                    load: SELECT data FROM items WHERE id = ?
                    store: INSERT INTO items(id, data) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data
                    delete: DELETE FROM items WHERE id = ?
                    tables: [items]
                    ttl: 1h
                  owner:
                    load: SELECT owner FROM items WHERE id = ?
                    tables: [items]
                    ttl: 1h
                  number:
                    load: SELECT data FROM numbered WHERE id = ?
                    store: INSERT INTO numbered(id, data) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data
                    tables: [numbered]
                    ttl: 1h
                default:
                  cache: true
                  ttl: 1h
                """

    deinit {
        upkeep?.cancel()
        proxy.shutdown()
        try? group.syncShutdownGracefully()
        try? threadPool.syncShutdownGracefully()
        backend.close()
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    var eventLoop: any EventLoop { group.next() }

    /// A client's read of `key`, under the policy in force.
    func keyRead(_ type: DataTypeState, _ id: ByteBuffer, _ key: ByteBuffer) -> ReadPath.KeyRead {
        ReadPath.KeyRead(type: type, id: id, key: key, policy: proxy.policy)
    }

    func type(_ name: String) -> DataTypeState {
        proxy.policy.types.first { $0.name == name }!
    }

    /// GET through L1, then the backend: the value as text, or nil for no row.
    func get(_ key: String) async throws -> String? {
        let keyBuffer = ByteBuffer(string: key)
        var out = ByteBuffer()
        var refreshDue = false
        switch proxy.reads.serveKeyFromL1(
            keyBuffer, now: proxy.clock.monotonicNanoseconds(), version: .v2, policy: proxy.policy, refreshDue: &refreshDue, into: &out) {
        case .hit:
            return Self.decodeBulk(out)
        case .miss, .stale, .expired:
            let (type, id) = try require(proxy.policy.route(keyBuffer))
            let loaded = try await proxy.reads.read(keyRead(type, id, keyBuffer), on: eventLoop).get()
            return Self.decodeBulk(loaded.reply.resp2)
        }
    }

    func query(_ sql: String, _ parameters: [String] = []) async throws -> String {
        let key = ReadPath.queryKey(
            sql: ByteBuffer(string: sql), parameters: parameters.map { ByteBuffer(string: $0) }[...])
        var out = ByteBuffer()
        switch proxy.reads.serveQueryFromL1(
            key, now: proxy.clock.monotonicNanoseconds(), version: .v2, policy: proxy.policy, into: &out) {
        case .hit:
            return String(buffer: out)
        case .miss, .stale, .expired:
            let read = ReadPath.QueryRead(
                sql: sql, parameters: parameters.map { .text($0) }, key: key, policy: proxy.policy)
            let loaded = try await proxy.reads.read(query: read, on: eventLoop).get()
            return String(buffer: loaded.reply.resp2)
        }
    }

    func set(_ key: String, _ value: String) async throws {
        let keyBuffer = ByteBuffer(string: key)
        let (type, id) = try require(proxy.policy.route(keyBuffer))
        try await proxy.writes.set(type: type, id: id, key: keyBuffer, value: ByteBuffer(string: value), on: eventLoop).get()
    }

    func mget(_ keys: [String]) async throws -> [String?] {
        let targets = try keys.map { key in
            let buffer = ByteBuffer(string: key)
            let (type, id) = try require(proxy.policy.route(buffer))
            return (type: type, id: id, key: buffer)
        }
        var values: [String?] = Array(repeating: nil, count: keys.count)
        var missing: [Int] = []
        for (index, target) in targets.enumerated() {
            var out = ByteBuffer()
            var refreshDue = false
            if case .hit = proxy.reads.serveKeyFromL1(
                target.key, now: proxy.clock.monotonicNanoseconds(), version: .v2, policy: proxy.policy, refreshDue: &refreshDue,
                into: &out) {
                values[index] = Self.decodeBulk(out)
            } else {
                missing.append(index)
            }
        }
        let loaded = try await proxy.reads.read(many: missing.map { keyRead(targets[$0].type, targets[$0].id, targets[$0].key) }, on: eventLoop).get()
        for (index, reply) in zip(missing, loaded) { values[index] = Self.decodeBulk(reply.reply.resp2) }
        return values
    }

    func delete(_ keys: [String]) async throws -> Int {
        let targets = try keys.map { key in
            let buffer = ByteBuffer(string: key)
            let (type, id) = try require(proxy.policy.route(buffer))
            return (type: type, id: id, key: buffer)
        }
        return try await proxy.writes.delete(targets, on: eventLoop).get()
    }

    /// `MULTI … EXEC` of `steps`, with `watched` keys under `WATCH`.
    func transaction(_ steps: [TransactionStep], watched: [WatchedKey] = []) async throws -> TransactionOutcome {
        try await proxy.writes.runTransaction(steps, watched: watched, version: .v2, on: eventLoop).get()
    }

    /// A transaction's target for `key`.
    func target(_ key: String) throws -> TransactionStep.Target {
        let buffer = ByteBuffer(string: key)
        let (type, id) = try require(proxy.policy.route(buffer))
        return TransactionStep.owned((type, id), key: buffer)
    }

    func exec(_ sql: String, _ parameters: [SQLValue] = []) async throws -> Int {
        try await proxy.writes.exec(sql: sql, parameters: parameters, on: eventLoop).get().changes
    }

    static func decodeBulk(_ buffer: ByteBuffer) -> String? {
        // Bytes, not Characters: "\r\n" is one Character in Swift.
        let bytes = Array(buffer.readableBytesView)
        guard bytes.first == UInt8(ascii: "$"), bytes.dropFirst().first != UInt8(ascii: "-"),
            let newline = bytes.firstIndex(of: UInt8(ascii: "\n")), bytes.count >= newline + 3
        else { return nil }
        return String(decoding: bytes[(newline + 1)..<(bytes.count - 2)], as: UTF8.self)
    }
}

/// `#require` outside of a test function body.
func require<T>(_ value: T?, _ message: String = "required value was nil") throws -> T {
    guard let value else { throw HarnessError(message: message) }
    return value
}

struct HarnessError: Error { var message: String }
