import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheStats
import TierCacheSupport

/// The write path: the backend commits first; then every L1 entry the write made stale is dropped, and (with L2)
/// the write is numbered, its L2 entries dropped and the other sidecars told, all before the client hears OK. So a
/// read after an acknowledged write never returns the old value here, and not in another sidecar once it heard.
final class WritePath: Sendable {
    let database: Database
    let l1: L1Cache
    let l2: L2Tier?
    let policies: ActivePolicy
    let sequencer: WriteSequencer
    let tables: TableRegistry
    let stats: ProxyStats
    let clock: any ServerClock
    /// Writes and transactions slower than its threshold.
    let slowLog: SlowLog

    init(
        database: Database,
        l1: L1Cache,
        l2: L2Tier?,
        policies: ActivePolicy,
        sequencer: WriteSequencer,
        tables: TableRegistry,
        stats: ProxyStats,
        clock: any ServerClock,
        slowLog: SlowLog = SlowLog(threshold: nil, maxLength: 0)
    ) {
        self.slowLog = slowLog
        self.database = database
        self.l1 = l1
        self.l2 = l2
        self.policies = policies
        self.sequencer = sequencer
        self.tables = tables
        self.stats = stats
        self.clock = clock
    }

    /// The policy in force: an invalidation is decided under the newest version (a type a reload just added
    /// must be invalidated too).
    private var policy: PolicyState { policies.state }

    /// `SET type:id value`: runs the type's `store` statement with (id, value).
    func set(
        type: DataTypeState, id: ByteBuffer, key: ByteBuffer, value: ByteBuffer, client: ClientRecord? = nil,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let store = type.policy.store else {
            return eventLoop.makeFailedFuture(
                ProxyError.missingStatement("store", of: type, for: "SET")
            )
        }
        let parameters = [SQLValue(parameter: id), SQLValue(parameter: value)]
        let ownedKey = ByteBuffer(bytes: key.readableBytesView)
        return database.run(eventLoop, statements: .policy, writes: true) { adapter, call in
            write(
                store, parameters: parameters, recorder: stats.backend.store, type: type.name, client: client,
                adapter: adapter, call: call)
        }.flatMap { [self] result in
            publish(invalidate(after: result.tablesWritten, keyed: (type, ownedKey)), on: eventLoop)
        }
    }

    /// `DEL key…`: runs each key's type `delete` statement; replies with the number of rows deleted.
    func delete(
        _ targets: [(type: DataTypeState, id: ByteBuffer, key: ByteBuffer)], client: ClientRecord? = nil,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Int> {
        for target in targets where target.type.policy.delete == nil {
            return eventLoop.makeFailedFuture(
                ProxyError.missingStatement("delete", of: target.type, for: "DEL")
            )
        }
        let work = targets.map { target in
            (
                type: target.type,
                statement: target.type.policy.delete ?? "",
                parameter: SQLValue(parameter: target.id),
                key: ByteBuffer(bytes: target.key.readableBytesView)
            )
        }
        return database.run(eventLoop, statements: .policy, writes: true) { adapter, call in
            delete(work[...], deleted: 0, invalidation: Invalidation(), client: client, adapter: adapter, call: call)
        }.flatMap { [self] (deleted: Int, invalidation: Invalidation, error: (any Error)?) in
            publish(invalidation, on: eventLoop).flatMapThrowing {
                if let error { throw error }
                return deleted
            }
        }
    }

    /// `SQL.EXEC sql params…`: runs any one statement and invalidates what it may have changed.
    func exec(sql: String, parameters: [SQLValue], client: ClientRecord? = nil, on eventLoop: any EventLoop)
        -> EventLoopFuture<WriteResult>
    {
        database.run(eventLoop, statements: .client, writes: true) { adapter, call in
            write(
                sql, parameters: parameters, recorder: stats.backend.exec, type: nil, client: client, adapter: adapter,
                call: call)
        }.map { [self] result in
            if !result.isReadOnly, result.tablesWritten.isEmpty {
                // Schema changes (CREATE, and DDL the authorizer reports no row write for): drop everything.
                return (result, invalidateEverything())
            }
            return (result, invalidate(after: result.tablesWritten, keyed: nil))
        }.flatMap { [self] (result: WriteResult, invalidation: Invalidation) in
            publish(invalidation, on: eventLoop).map { result }
        }
    }

    /// One write through the adapter, timed from when the database began it (and in the slow log when slow, as
    /// the recorder's operation); a failure as the client sees it.
    func write(
        _ sql: String, parameters: [SQLValue], recorder: LatencyRecorder, type: String?, client: ClientRecord?,
        adapter: any BackendAdapter, call: BackendCall
    ) -> EventLoopFuture<WriteResult> {
        let issued = clock.monotonicNanoseconds()
        return adapter.write(sql, parameters: parameters, call: call).map { [self] result in
            let took = clock.monotonicNanoseconds() &- max(issued, call.startedAt)
            recorder.record(nanoseconds: took)
            if slowLog.isSlow(took) {
                slowLog.record(
                    operation: recorder.name.uppercased(), type: type, sql: sql, parameters: parameters,
                    nanoseconds: took, client: client, unixMicroseconds: clock.wallClockMicroseconds())
            }
            return result
        }.flatMapErrorThrowing { [self] error in
            throw Database.clientError(error, counting: stats.backend, as: recorder.name)
        }
    }

    /// Deletes `work`'s keys one after another, each committed on its own. Keys deleted before a failure stay
    /// deleted: the answer carries what they invalidate along with the error, to tell the other sidecars first.
    private func delete(
        _ work: ArraySlice<(type: DataTypeState, statement: String, parameter: SQLValue, key: ByteBuffer)>,
        deleted: Int,
        invalidation: Invalidation,
        client: ClientRecord?,
        adapter: any BackendAdapter,
        call: BackendCall
    ) -> EventLoopFuture<(Int, Invalidation, (any Error)?)> {
        guard let item = work.first else { return call.eventLoop.makeSucceededFuture((deleted, invalidation, nil)) }
        return write(
            item.statement, parameters: [item.parameter], recorder: stats.backend.delete, type: item.type.name,
            client: client, adapter: adapter, call: call)
            .map { Result<WriteResult, any Error>.success($0) }
            .recover { .failure($0) }
            .flatMap { [self] result in
                switch result {
                case .success(let written):
                    var invalidation = invalidation
                    invalidation.merge(invalidate(after: written.tablesWritten, keyed: (item.type, item.key)))
                    return delete(
                        work.dropFirst(), deleted: deleted + written.changes, invalidation: invalidation,
                        client: client, adapter: adapter, call: call)
                case .failure(let error):
                    return call.eventLoop.makeSucceededFuture((deleted, invalidation, error))
                }
            }
    }

    /// Decides what a committed write made stale and drops it from this sidecar's L1 (`invalidation(after:keyed:)`).
    /// Returns the same for the other sidecars.
    func invalidate(after written: Set<String>, keyed: (type: DataTypeState, key: ByteBuffer)?) -> Invalidation {
        let invalidation = invalidation(after: written, keyed: keyed)
        apply(invalidation)
        return invalidation
    }

    /// What a write made stale: the written key (with a tombstone against in-flight fills), every type reading a
    /// written table (except the keyed type itself, whose other ids a keyed write leaves alone when each row has
    /// one id), and every QUERY result that read a written table.
    func invalidation(after written: Set<String>, keyed: (type: DataTypeState, key: ByteBuffer)?) -> Invalidation {
        var invalidation = Invalidation(tables: written)
        // With inexact ids (`items:01` may be the row cached as `items:1`) the whole type goes.
        let spared = keyed.flatMap { $0.type.idsAreExact ? $0.type : nil }
        if let keyed {
            invalidation.keys.append(keyed.key)
            if spared == nil { invalidation.types.append(keyed.type) }
        }
        for type in policy.types(readingAnyOf: written) where type !== spared && !invalidation.types.contains(where: { $0 === type }) {
            invalidation.types.append(type)
        }
        return invalidation
    }

    /// Drops every L1 entry (schema changes, a lost invalidation channel).
    @discardableResult
    func invalidateEverything() -> Invalidation {
        let invalidation = Invalidation(everything: true)
        apply(invalidation)
        return invalidation
    }

    /// Another sidecar's write, as its message names it. The writer decided which types it affects; both run the
    /// same policies.
    func applyRemote(_ message: InvalidationMessage) {
        var invalidation = Invalidation(everything: message.everything, tables: Set(message.tables))
        invalidation.types = message.types.compactMap(policy.type(named:))
        invalidation.keys = message.keys
        apply(invalidation)
    }

    /// Makes `invalidation` take effect on this sidecar's L1 under a new local write number.
    func apply(_ invalidation: Invalidation) {
        guard !invalidation.isEmpty else { return }
        let stamp = sequencer.next()
        if invalidation.everything {
            for type in policy.types {
                type.stamp.raise(to: stamp)
                type.counters.invalidations.increment()
            }
            l1.removeAll(stamp: stamp)
            return
        }
        tables.raise(invalidation.tables, to: stamp)
        for type in invalidation.types {
            type.stamp.raise(to: stamp)
            type.counters.invalidations.increment()
        }
        let now = clock.monotonicNanoseconds()
        for key in invalidation.keys {
            l1.invalidate(key, stamp: stamp, now: now)
            if let (type, _) = policy.route(key), !invalidation.types.contains(where: { $0 === type }) {
                type.counters.invalidations.increment()
            }
        }
    }

    /// Tells the other sidecars (through L2) what a write made stale; completes when they can hear it.
    func publish(_ invalidation: Invalidation, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard let l2, !invalidation.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        let message = l2.message(
            everything: invalidation.everything,
            types: invalidation.types.map(\.name),
            tables: invalidation.tables.sorted(),
            keys: invalidation.keys
        )
        return l2.publish(message, on: eventLoop)
    }
}
