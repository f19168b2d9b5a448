import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol

/// A `MULTI … EXEC` as the statements it runs, one at a time (a `TransactionScript` the backend drives): first a
/// read of each `WATCH`ed key's row, compared to its snapshot; then each queued step's statements, whose results
/// make the step's reply. A pure value: it asks for statements and is told their results, so it is the same on a
/// blocking and on a non-blocking backend, and tests drive it without a database.
struct TransactionRun: TransactionScript {
    enum Output: Sendable {
        /// Every step ran: commit. Their replies, in order, and what they wrote (for the invalidation).
        case committed(replies: [ByteBuffer], writes: [Write])
        /// A watched key's row changed since `WATCH`: nothing ran.
        case watchedKeyChanged
        /// A step failed: roll back.
        case stepFailed(index: Int, error: BackendError)
        /// A watched key's row could not be read: roll back.
        case failed(BackendError)
    }

    /// What one statement of the transaction wrote.
    struct Write: Sendable {
        var tablesWritten: Set<String>
        /// The key a keyed write (SET, DEL) wrote.
        var keyed: (type: DataTypeState, key: ByteBuffer)?
        /// A statement that may write but names no table (DDL): every cached entry goes.
        var changesSchema = false
    }

    private enum Phase {
        /// The read of `watched[index]` was asked for.
        case watching(index: Int)
        /// `steps[index]` runs; the results of the statements it ran so far.
        case running(index: Int, results: [TransactionStatementResult])
        case finished
    }

    /// What a step needs next, given the results of the statements it ran.
    private enum StepPlan {
        case statement(TransactionStatement)
        case done(reply: ByteBuffer, writes: [Write])
        case fail(BackendError)
    }

    private let steps: [TransactionStep]
    private let watched: [WatchedKey]
    private let version: RESPVersion
    private var phase: Phase
    private var replies: [ByteBuffer] = []
    private var writes: [Write] = []

    init(steps: [TransactionStep], watched: [WatchedKey], version: RESPVersion) {
        self.steps = steps
        self.watched = watched
        self.version = version
        self.phase = .running(index: 0, results: [])
        replies.reserveCapacity(steps.count)
    }

    mutating func next(after previous: Result<TransactionStatementResult, BackendError>?) -> TransactionAction<Output> {
        switch (phase, previous) {
        case (_, nil):
            if let first = watched.first {
                phase = .watching(index: 0)
                return .run(Self.load(first.target))
            }
        case (.watching, .failure(let error)?):
            return finish(.rollBack(.failed(error)))
        case (.watching(let index), .success(let result)?):
            guard case .read(let read) = result, read.resultSet == watched[index].snapshot else {
                return finish(.rollBack(.watchedKeyChanged))
            }
            if index + 1 < watched.count {
                phase = .watching(index: index + 1)
                return .run(Self.load(watched[index + 1].target))
            }
            phase = .running(index: 0, results: [])
        case (.running(let index, _), .failure(let error)?):
            return finish(.rollBack(.stepFailed(index: index, error: error)))
        case (.running(let index, var results), .success(let result)?):
            results.append(result)
            phase = .running(index: index, results: results)
        case (.finished, _?):
            return .rollBack(.failed(BackendError(.failed, "transaction asked for a statement after it ended")))
        }
        while case .running(let index, let results) = phase {
            guard index < steps.count else {
                return finish(.commit(.committed(replies: replies, writes: writes)))
            }
            switch plan(steps[index], results: results) {
            case .statement(let statement):
                return .run(statement)
            case .done(let reply, let written):
                replies.append(reply)
                writes += written
                phase = .running(index: index + 1, results: [])
            case .fail(let error):
                return finish(.rollBack(.stepFailed(index: index, error: error)))
            }
        }
        return .rollBack(.failed(BackendError(.failed, "transaction asked for a statement after it ended")))
    }

    private mutating func finish(_ action: TransactionAction<Output>) -> TransactionAction<Output> {
        phase = .finished
        return action
    }

    /// A step's next statement, or its reply once its statements ran.
    private func plan(_ step: TransactionStep, results: [TransactionStatementResult]) -> StepPlan {
        switch step {
        case .get(let target):
            guard let first = results.first else { return .statement(Self.load(target)) }
            return .done(reply: encoded(Self.value(first)), writes: [])
        case .mget(let targets):
            let present = targets.compactMap { $0 }
            if results.count < present.count { return .statement(Self.load(present[results.count])) }
            var reply = ByteBuffer()
            reply.writeRESPArrayHeader(count: targets.count)
            var values = results.makeIterator()
            for target in targets {
                var value = encoded(target == nil ? ResultEncoding.nullReply : values.next().map(Self.value) ?? ResultEncoding.nullReply)
                reply.writeBuffer(&value)
            }
            return .done(reply: reply, writes: [])
        case .exists(let targets):
            let present = targets.compactMap { $0 }
            if results.count < present.count { return .statement(Self.load(present[results.count])) }
            var reply = ByteBuffer()
            reply.writeRESPInteger(results.filter { !Self.isNull(Self.value($0)) }.count)
            return .done(reply: reply, writes: [])
        case .set(let target, let newValue, let options):
            guard let store = target.type.policy.store else {
                // Checked when the command was queued; a reload may have dropped the statement since.
                return .fail(BackendError(.notAllowed, ProxyError.missingStatement("store", of: target.type, for: "SET").message))
            }
            let readsOld = options.needsTransaction
            if readsOld, results.isEmpty { return .statement(Self.load(target)) }
            let old = readsOld ? results.first.map(Self.value) : nil
            let exists = old.map { !Self.isNull($0) } ?? false
            let allowed =
                switch options.condition {
                case nil: true
                case .ifAbsent?: !exists
                case .ifPresent?: exists
                }
            let writeIndex = readsOld ? 1 : 0
            if allowed, results.count == writeIndex {
                return .statement(.write(sql: store, parameters: [SQLValue(parameter: target.id), SQLValue(parameter: newValue)]))
            }
            var reply = ByteBuffer()
            if options.returnsOld, let old {
                reply = encoded(old)
            } else if allowed {
                reply.writeRESPSimpleString(staticString: "OK")
            } else {
                reply.writeRESPNull(version)  // not set: Redis' nil
            }
            let written = allowed ? Self.written(results[writeIndex]) : nil
            return .done(
                reply: reply,
                writes: written.map { [Write(tablesWritten: $0.tablesWritten, keyed: (target.type, target.key))] } ?? [])
        case .del(let targets):
            if results.count < targets.count {
                let target = targets[results.count]
                guard let delete = target.type.policy.delete else {
                    return .fail(BackendError(.notAllowed, ProxyError.missingStatement("delete", of: target.type, for: "DEL").message))
                }
                return .statement(.write(sql: delete, parameters: [SQLValue(parameter: target.id)]))
            }
            var deleted = 0
            var writes: [Write] = []
            for (target, result) in zip(targets, results) {
                let written = Self.written(result)
                deleted += written.changes
                writes.append(Write(tablesWritten: written.tablesWritten, keyed: (target.type, target.key)))
            }
            var reply = ByteBuffer()
            reply.writeRESPInteger(deleted)
            return .done(reply: reply, writes: writes)
        case .query(let sql, let parameters):
            guard let first = results.first else { return .statement(.read(sql: sql, parameters: parameters)) }
            guard case .read(let read) = first else {
                return .fail(BackendError(.failed, "the backend answered QUERY's read with a write's result"))
            }
            return .done(reply: encoded(ResultEncoding.resultSet(read.resultSet)), writes: [])
        case .sqlExec(let sql, let parameters):
            guard let first = results.first else { return .statement(.write(sql: sql, parameters: parameters)) }
            let written = Self.written(first)
            var reply = ByteBuffer()
            reply.writeRESPInteger(written.changes)
            let changesSchema = !written.isReadOnly && written.tablesWritten.isEmpty
            return .done(reply: reply, writes: [Write(tablesWritten: written.tablesWritten, changesSchema: changesSchema)])
        case .reply(_, let bytes):
            return .done(reply: bytes, writes: [])
        case .failure(_, let error):
            // Answered without running the transaction (`ConnectionHandler.exec`); never sent here.
            return .fail(BackendError(.notAllowed, error.message))
        }
    }

    /// The read of a key's row, by its type's `load`.
    private static func load(_ target: TransactionStep.Target) -> TransactionStatement {
        .read(sql: target.type.policy.load, parameters: [SQLValue(parameter: target.id)])
    }

    /// A key's value from its row, as GET answers it.
    private static func value(_ result: TransactionStatementResult) -> CachedReply {
        guard case .read(let read) = result, !read.resultSet.rows.isEmpty else { return ResultEncoding.nullReply }
        return ResultEncoding.keyedValue(read.resultSet)
    }

    private static func written(_ result: TransactionStatementResult) -> WriteResult {
        guard case .written(let written) = result else {
            // An adapter answers a write with `.written`; were it not to, invalidate as much as a schema change.
            return WriteResult(changes: 0, tablesWritten: [], isReadOnly: false)
        }
        return written
    }

    private static func isNull(_ reply: CachedReply) -> Bool {
        reply.resp2.withUnsafeReadableBytes(ResultEncoding.isNull)
    }

    private func encoded(_ reply: CachedReply) -> ByteBuffer {
        version == .v3 ? (reply.resp3 ?? reply.resp2) : reply.resp2
    }
}
