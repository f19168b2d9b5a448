import NIOCore
import Testing
import TierCacheBackend
import TierCachePolicy

@testable import TierCacheServer

/// `TransactionState` as a value: what `MULTI`, `EXEC`, `DISCARD`, `WATCH` and queued commands decide, with no
/// connection and no database.
@Suite("Transaction state")
struct TransactionStateTests {
    private let policy: HarnessPolicy

    init() throws { policy = try HarnessPolicy() }

    private func target(_ key: String) throws -> TransactionStep.Target { try policy.target(key) }

    private func watchedKey(_ key: String) throws -> WatchedKey {
        WatchedKey(target: try target(key), snapshot: ResultSet(columns: ["data"], rows: [[.text("one")]]))
    }

    @Test("MULTI opens a queue once; DISCARD and EXEC need one; both end it and unwatch")
    func openAndClose() throws {
        var state = TransactionState()
        #expect(state.discard()?.message == "DISCARD without MULTI")
        guard case .notQueuing = state.exec() else {
            Issue.record("EXEC ran without MULTI")
            return
        }
        #expect(state.multi() == nil)
        #expect(state.isQueuing && state.queuedCount == 0)
        #expect(state.multi()?.message == "MULTI calls can not be nested")
        #expect(state.discard() == nil)
        #expect(!state.isQueuing && state.queuedCount == nil)

        state.watched([try watchedKey("item:1")])
        _ = state.multi()
        #expect(state.discard() == nil)
        #expect(state.watched.isEmpty, "DISCARD unwatches")
    }

    @Test("WATCH is refused inside MULTI and past the limit; UNWATCH and RESET clear it")
    func watching() throws {
        var state = TransactionState()
        #expect(state.mayWatch(TransactionState.maxWatchedKeys) == nil)
        #expect(state.mayWatch(TransactionState.maxWatchedKeys + 1)?.message.hasPrefix("too many watched keys") == true)
        state.watched([try watchedKey("item:1"), try watchedKey("item:2")])
        #expect(state.mayWatch(TransactionState.maxWatchedKeys - 1)?.message.hasPrefix("too many watched keys") == true)
        state.unwatch()
        #expect(state.watched.isEmpty)
        _ = state.multi()
        #expect(state.mayWatch(1)?.message == "WATCH inside MULTI is not allowed")
        state.reset()
        #expect(!state.isQueuing && state.mayWatch(1) == nil)
    }

    @Test("EXEC runs the queue with the watched keys, and ends the transaction")
    func execRuns() throws {
        var state = TransactionState()
        state.watched([try watchedKey("item:1")])
        _ = state.multi()
        #expect(state.admit(size: 10) == nil)
        state.append(.get(try target("item:1")))
        #expect(state.admit(size: 10) == nil)
        state.append(.del([try target("item:2")]))
        #expect(state.queuedCount == 2)
        guard case .run(let steps, let watched) = state.exec() else {
            Issue.record("did not run")
            return
        }
        #expect(steps.map(\.kind) == [.get, .del])
        #expect(watched.count == 1)
        #expect(!state.isQueuing && state.watched.isEmpty)
    }

    @Test("a refused command aborts EXEC; a command that can only fail fails it, naming the step")
    func refusals() throws {
        var refused = TransactionState()
        _ = refused.multi()
        refused.append(.get(try target("item:1")))
        refused.refuse()
        guard case .aborted = refused.exec() else {
            Issue.record("not aborted")
            return
        }

        var failing = TransactionState()
        _ = failing.multi()
        failing.append(.get(try target("item:1")))
        failing.append(.failure(.get, ProxyError(.noType, "no type")))
        guard case .failed(let steps, let index, let error) = failing.exec() else {
            Issue.record("not failed")
            return
        }
        #expect(steps.count == 2 && index == 1 && error.message == "no type")
    }

    @Test("replies made when queuing answer EXEC without the database, unless a key is watched")
    func localReplies() throws {
        var state = TransactionState()
        _ = state.multi()
        state.append(.reply(.ping, ByteBuffer(string: "+PONG\r\n")))
        guard case .answerQueued(let steps) = state.exec() else {
            Issue.record("went to the database")
            return
        }
        #expect(steps.count == 1)

        state.watched([try watchedKey("item:1")])
        _ = state.multi()
        state.append(.reply(.ping, ByteBuffer(string: "+PONG\r\n")))
        guard case .run = state.exec() else {
            Issue.record("a watched key was not checked")
            return
        }
    }

    @Test("a queue past its commands or bytes is refused, and the transaction with it")
    func limits() {
        var state = TransactionState()
        _ = state.multi()
        #expect(state.admit(size: QueuedTransaction.maxBytes + 1)?.message.hasPrefix("transaction too large") == true)
        guard case .aborted = state.exec() else {
            Issue.record("a refused transaction ran")
            return
        }
        _ = state.multi()
        for _ in 0..<QueuedTransaction.maxSteps {
            #expect(state.admit(size: 1) == nil)
            state.append(.reply(.ping, ByteBuffer()))
        }
        #expect(state.admit(size: 1) != nil)
        #expect(state.queuedCount == QueuedTransaction.maxSteps)
    }
}
