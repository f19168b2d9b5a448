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

    init(
        database: Database,
        l1: L1Cache,
        l2: L2Tier?,
        policies: ActivePolicy,
        sequencer: WriteSequencer,
        tables: TableRegistry,
        stats: ProxyStats,
        clock: any ServerClock
    ) {
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
    func set(type: DataTypeState, id: ByteBuffer, key: ByteBuffer, value: ByteBuffer, on eventLoop: any EventLoop)
        -> EventLoopFuture<Void>
    {
        guard let store = type.policy.store else {
            return eventLoop.makeFailedFuture(
                ProxyError.missingStatement("store", of: type, for: "SET")
            )
        }
        let parameters = [SQLValue(parameter: id), SQLValue(parameter: value)]
        let ownedKey = ByteBuffer(bytes: key.readableBytesView)
        return database.run(eventLoop, statements: .policy, writes: true) { [self] in
            let result = try runWrite(store, parameters: parameters, recorder: stats.backend.store)
            return invalidate(after: result.tablesWritten, keyed: (type, ownedKey))
        }.flatMap { [self] invalidation in
            publish(invalidation, on: eventLoop)
        }
    }

    /// `DEL key…`: runs each key's type `delete` statement; replies with the number of rows deleted.
    func delete(_ targets: [(type: DataTypeState, id: ByteBuffer, key: ByteBuffer)], on eventLoop: any EventLoop)
        -> EventLoopFuture<Int>
    {
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
        return database.run(eventLoop, statements: .policy, writes: true) { [self] in
            var deleted = 0
            var invalidation = Invalidation()
            for item in work {
                let result: WriteResult
                do {
                    result = try runWrite(item.statement, parameters: [item.parameter], recorder: stats.backend.delete)
                } catch {
                    // Keys deleted before the failure stay deleted: tell the other sidecars before failing.
                    return (deleted, invalidation, error)
                }
                invalidation.merge(invalidate(after: result.tablesWritten, keyed: (item.type, item.key)))
                deleted += result.changes
            }
            return (deleted, invalidation, nil)
        }.flatMap { [self] (deleted: Int, invalidation: Invalidation, error: (any Error)?) in
            publish(invalidation, on: eventLoop).flatMapThrowing {
                if let error { throw error }
                return deleted
            }
        }
    }

    /// `SQL.EXEC sql params…`: runs any one statement and invalidates what it may have changed.
    func exec(sql: String, parameters: [SQLValue], on eventLoop: any EventLoop) -> EventLoopFuture<WriteResult> {
        database.run(eventLoop, statements: .client, writes: true) { [self] in
            let result = try runWrite(sql, parameters: parameters, recorder: stats.backend.exec)
            if !result.isReadOnly, result.tablesWritten.isEmpty {
                // Schema changes (CREATE, and DDL the authorizer reports no row write for): drop everything.
                return (result, invalidateEverything())
            }
            return (result, invalidate(after: result.tablesWritten, keyed: nil))
        }.flatMap { [self] (result: WriteResult, invalidation: Invalidation) in
            publish(invalidation, on: eventLoop).map { result }
        }
    }

    func runWrite(_ sql: String, parameters: [SQLValue], recorder: LatencyRecorder) throws -> WriteResult {
        let started = clock.monotonicNanoseconds()
        do {
            let result = try database.backend.write(sql, parameters: parameters)
            recorder.record(nanoseconds: clock.monotonicNanoseconds() &- started)
            return result
        } catch {
            stats.backend.errors.increment()
            throw ProxyError(error)
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
