import Logging
import NIOCore
import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheSupport

/// Loads a type's keys before readers ask for them: the ids its `warm` statement lists, each through the normal
/// read path (L1, then L2, then the database), one at a time and at most `warm_rate` a second, so warming can
/// never overload the database. It runs in the background while TierCache serves; progress is logged and shown in
/// `STATS warming`, and `ready` says when every warming run has finished.
final class Warmer: Sendable {
    enum Phase: String, Sendable {
        case listing, loading, done, failed
    }

    struct Progress: Sendable {
        var phase: Phase
        var total = 0
        /// Keys loaded, or found fresh in L1 already.
        var done = 0
        var failed = 0
        var rate: Double
        var startedAt: UInt64
        var finishedAt: UInt64?
        var error: String?
    }

    private let progress = Mutex<[(name: String, progress: Progress)]>([])
    private let logger: Logger
    private let clock: any ServerClock

    init(logger: Logger, clock: any ServerClock) {
        self.logger = logger
        self.clock = clock
    }

    /// Whether no warming run is under way.
    var isReady: Bool {
        progress.withLock { runs in !runs.contains { $0.progress.phase == .listing || $0.progress.phase == .loading } }
    }

    var snapshot: [(name: String, progress: Progress)] { progress.withLock { $0 } }

    /// Starts warming each of `types` that has a `warm` statement or keys in `keys` (the hot-key snapshot's, by
    /// type name: loaded first, hottest first) and is not being warmed already; returns the names of those
    /// started.
    @discardableResult
    func warm(
        _ types: [DataTypeState],
        keys: [String: [ByteBuffer]] = [:],
        proxy: Proxy,
        on eventLoop: any EventLoop
    ) -> [String] {
        let started = progress.withLock { runs -> [DataTypeState] in
            var started: [DataTypeState] = []
            for type in types where type.policy.warm != nil || !(keys[type.name] ?? []).isEmpty {
                let running = runs.contains {
                    $0.name == type.name && ($0.progress.phase == .listing || $0.progress.phase == .loading)
                }
                guard !running else { continue }
                runs.removeAll { $0.name == type.name }
                runs.append((type.name, Progress(phase: .listing, rate: type.policy.warmRate, startedAt: clock.monotonicNanoseconds())))
                started.append(type)
            }
            return started
        }
        for type in started { list(type, known: keys[type.name] ?? [], proxy: proxy, on: eventLoop) }
        return started.map(\.name)
    }

    private func update(_ name: String, _ change: (inout Progress) -> Void) {
        progress.withLock { runs in
            if let index = runs.firstIndex(where: { $0.name == name }) { change(&runs[index].progress) }
        }
    }

    /// Lists the ids of the type's `warm` statement (if any) after the `known` keys, then loads them all.
    private func list(_ type: DataTypeState, known: [ByteBuffer], proxy: Proxy, on eventLoop: any EventLoop) {
        let listing: EventLoopFuture<[[UInt8]]>
        if let statement = type.policy.warm {
            listing = proxy.database.run(eventLoop, statements: .policy) { adapter, call in
                adapter.read(statement, parameters: [], origin: .policy, call: call).map { result in
                    result.resultSet.rows.compactMap { $0.first?.idBytes }
                }
            }
        } else {
            listing = eventLoop.makeSucceededFuture([])
        }
        listing.whenComplete { [self] result in
            switch result {
            case .success(let ids):
                let prefix = Array(type.policy.prefix.utf8) + [UInt8(ascii: ":")]
                var seen = Set(known)
                var keys = known
                for id in ids {
                    let key = ByteBuffer(bytes: prefix + id)
                    if seen.insert(key).inserted { keys.append(key) }
                }
                update(type.name) {
                    $0.phase = .loading
                    $0.total = keys.count
                }
                logger.info(
                    "warming \(type.name): \(keys.count) keys at most \(type.policy.warmRate) a second",
                    metadata: ["type": "\(type.name)"])
                load(keys, index: 0, prefixLength: prefix.count, type: type, started: clock.monotonicNanoseconds(),
                    proxy: proxy, on: eventLoop)
            case .failure(let error):
                let message = (error as? ProxyError)?.message ?? "\(error)"
                update(type.name) {
                    $0.phase = .failed
                    $0.error = message
                    $0.finishedAt = clock.monotonicNanoseconds()
                }
                logger.error("warming \(type.name) failed: its warm statement: \(message)")
                noteReadyIfDone()
            }
        }
    }

    /// Loads `keys[index]`, then the next one no sooner than `index + 1` rate periods after `started`.
    private func load(
        _ keys: [ByteBuffer],
        index: Int,
        prefixLength: Int,
        type: DataTypeState,
        started: UInt64,
        proxy: Proxy,
        on eventLoop: any EventLoop
    ) {
        guard index < keys.count else {
            finish(type)
            return
        }
        let key = keys[index]
        let next: @Sendable () -> Void = { [self] in
            let due = started &+ UInt64(Double(index + 1) / type.policy.warmRate * 1e9)
            let now = clock.monotonicNanoseconds()
            eventLoop.scheduleTask(in: .nanoseconds(due > now ? Int64(due - now) : 0)) { [self] in
                load(keys, index: index + 1, prefixLength: prefixLength, type: type, started: started, proxy: proxy,
                    on: eventLoop)
            }
        }
        let policy = proxy.policy
        let cached = proxy.l1.lookup(key, now: clock.monotonicNanoseconds()) { info, _, _ in policy.keyedEntryIsFresh(info) }
        if case .hit = cached {
            update(type.name) { $0.done += 1 }
            next()
            return
        }
        let id = key.getSlice(at: key.readerIndex + prefixLength, length: key.readableBytes - prefixLength) ?? key
        proxy.reads.read(
            ReadPath.KeyRead(type: type, id: id, key: key, policy: proxy.policy, purpose: .warming), on: eventLoop
        ).whenComplete { [self] result in
            update(type.name) {
                if case .success = result { $0.done += 1 } else { $0.failed += 1 }
            }
            next()
        }
    }

    private func finish(_ type: DataTypeState) {
        let finished = progress.withLock { runs -> Progress? in
            guard let index = runs.firstIndex(where: { $0.name == type.name }) else { return nil }
            runs[index].progress.phase = .done
            runs[index].progress.finishedAt = clock.monotonicNanoseconds()
            return runs[index].progress
        }
        if let finished {
            let seconds = Double((finished.finishedAt ?? 0) &- finished.startedAt) / 1e9
            logger.notice(
                "warmed \(type.name): \(finished.done) of \(finished.total) keys loaded, \(finished.failed) failed, in \((seconds * 10).rounded() / 10) s")
        }
        noteReadyIfDone()
    }

    private func noteReadyIfDone() {
        if isReady { logger.notice("warming done: ready") }
    }
}

extension SQLValue {
    /// A listed id as key bytes: text and blobs as they are, numbers in decimal; nil for NULL.
    fileprivate var idBytes: [UInt8]? {
        switch self {
        case .null: nil
        case .integer(let value): Array(String(value).utf8)
        case .real(let value): Array(String(value).utf8)
        case .text(let bytes), .blob(let bytes): bytes
        }
    }
}
