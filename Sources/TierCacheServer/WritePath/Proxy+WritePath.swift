import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheStats

/// The write path: the backend commits first, then every L1 entry the write made stale is dropped before the
/// client hears OK, so a read after an acknowledged write never returns the old value.
extension Proxy {
    /// `SET type:id value`: runs the type's `store` statement with (id, value).
    func set(type: DataTypeState, id: ByteBuffer, key: ByteBuffer, value: ByteBuffer, on eventLoop: any EventLoop)
        -> EventLoopFuture<Void>
    {
        guard let store = type.policy.store else {
            return eventLoop.makeFailedFuture(
                ProxyError(.readOnlyType, "type '\(type.name)' has no store statement; SET is not available for it")
            )
        }
        let parameters = [SQLValue(parameter: id), SQLValue(parameter: value)]
        let ownedKey = ByteBuffer(bytes: key.readableBytesView)
        return onBackend(eventLoop) { [self] in
            let result = try runWrite(store, parameters: parameters, recorder: stats.backend.store)
            invalidate(after: result.tablesWritten, keyed: (type, ownedKey))
        }
    }

    /// `DEL key…`: runs each key's type `delete` statement; replies with the number of rows deleted.
    func delete(_ targets: [(type: DataTypeState, id: ByteBuffer, key: ByteBuffer)], on eventLoop: any EventLoop)
        -> EventLoopFuture<Int>
    {
        for target in targets where target.type.policy.delete == nil {
            return eventLoop.makeFailedFuture(
                ProxyError(
                    .readOnlyType, "type '\(target.type.name)' has no delete statement; DEL is not available for it")
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
        return onBackend(eventLoop) { [self] in
            var deleted = 0
            for item in work {
                let result = try runWrite(item.statement, parameters: [item.parameter], recorder: stats.backend.delete)
                invalidate(after: result.tablesWritten, keyed: (item.type, item.key))
                deleted += result.changes
            }
            return deleted
        }
    }

    /// `EXEC sql params…`: runs any one statement and invalidates what it may have changed.
    func exec(sql: String, parameters: [SQLValue], on eventLoop: any EventLoop) -> EventLoopFuture<WriteResult> {
        onBackend(eventLoop) { [self] in
            let result = try runWrite(sql, parameters: parameters, recorder: stats.backend.exec)
            if !result.isReadOnly, result.tablesWritten.isEmpty {
                // Schema changes (CREATE, and DDL the authorizer reports no row write for): drop everything.
                invalidateEverything()
            } else {
                invalidate(after: result.tablesWritten, keyed: nil)
            }
            return result
        }
    }

    private func runWrite(_ sql: String, parameters: [SQLValue], recorder: LatencyRecorder) throws -> WriteResult {
        let started = monotonicNanoseconds()
        do {
            let result = try backend.write(sql, parameters: parameters)
            recorder.record(nanoseconds: monotonicNanoseconds() &- started)
            return result
        } catch {
            stats.backend.errors.increment()
            throw ProxyError(error)
        }
    }

    /// Numbers the committed write and makes everything it may have changed stale: the written key (with a
    /// tombstone against in-flight fills), every type reading a written table (except the keyed type itself,
    /// whose other ids a keyed write leaves alone when each row has one id), and every QUERY result that read a
    /// written table.
    func invalidate(after written: Set<String>, keyed: (type: DataTypeState, key: ByteBuffer)?) {
        guard !written.isEmpty || keyed != nil else { return }
        let stamp = sequencer.next()
        tables.raise(written, to: stamp)
        // With inexact ids (`items:01` may be the row cached as `items:1`) the whole type goes.
        let spared = keyed.flatMap { $0.type.idsAreExact ? $0.type : nil }
        if let keyed, spared == nil {
            keyed.type.stamp.raise(to: stamp)
        }
        for type in policy.types(readingAnyOf: written) where type !== spared {
            type.stamp.raise(to: stamp)
            type.counters.invalidations.increment()
        }
        if let keyed {
            l1.invalidate(keyed.key, stamp: stamp, now: monotonicNanoseconds())
            keyed.type.counters.invalidations.increment()
        }
    }

    func invalidateEverything() {
        let stamp = sequencer.next()
        for type in policy.types {
            type.stamp.raise(to: stamp)
            type.counters.invalidations.increment()
        }
        l1.removeAll(stamp: stamp)
    }
}
