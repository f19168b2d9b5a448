import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheStats
import TierCacheSupport

/// Backend loads: one coalesced flight per key and write number, run through `Database`, that fills L1 (as soon as
/// the rows are in) and L2 (if its ticket is still good) whoever is still waiting for it: a load
/// outlives the reads that wait for it (a soft timeout, a database timeout).
extension ReadPath {
    /// Loads a key from the backend, joining an identical load running since the same write number.
    func load(_ read: KeyRead, plan: ReadMachine.Plan, on eventLoop: any EventLoop) -> EventLoopFuture<LoadedReply> {
        let type = read.type
        let stamp = sequencer.current
        // The request's bytes are slices of the connection's read buffer; the flight outlives them.
        let key = ByteBuffer(bytes: read.key.readableBytesView)
        // The id is the key's tail (`prefix:id`): slice it from the owned copy.
        let id =
            key.getSlice(at: key.readerIndex + key.readableBytes - read.id.readableBytes, length: read.id.readableBytes)
            ?? ByteBuffer(bytes: read.id.readableBytesView)
        let owned = KeyRead(type: type, id: id, key: key, policy: read.policy, purpose: read.purpose)
        return coalesced(key: key, stamp: stamp, counters: type.counters, on: eventLoop) { [self] in
            if read.purpose == .refresh { type.counters.refreshes.increment() }
            let started = clock.monotonicNanoseconds()
            let ticket = type.policy.l2 ? l2?.readTicket() : nil
            return database.run(eventLoop, statements: .policy) { adapter, call in
                adapter.read(type.policy.load, parameters: [SQLValue(parameter: owned.id)], origin: .policy, call: call)
                    .flatMapErrorThrowing { [self] error in
                        if error is BackendError { type.counters.loadErrors.increment() }
                        throw Database.clientError(error, counting: stats.backend.errors)
                    }
                    .map { [self] result in loaded(owned, result: result, plan: plan, stamp: stamp, call: call) }
            }.map { [self] loaded in
                if let l2, let ticket, let lifetime = loaded.lifetime, mayFillL2(ticket, started: started) {
                    // Redis keeps the entry past its logical expiry for as long as it may be served stale; readers
                    // judge freshness by the expiry inside it.
                    l2.fillKeyed(
                        key,
                        entry: l2Entry(loaded, lifetime: lifetime, sequence: ticket.sequence, tables: []),
                        lifetimeMilliseconds: (lifetime &+ type.staleGraceNanoseconds).milliseconds
                    )
                }
                return loaded
            }
        }
    }

    /// Runs `load` unless an identical load that began at the same write number is running; then the request
    /// waits for that one's result instead.
    func coalesced(
        key: ByteBuffer,
        stamp: UInt64,
        counters: TypeCounters?,
        on eventLoop: any EventLoop,
        _ load: () -> EventLoopFuture<LoadedReply>
    ) -> EventLoopFuture<LoadedReply> {
        switch coalescer.joinOrLead(key: key, stamp: stamp, on: eventLoop) {
        case .join(let future):
            counters?.coalesced.increment()
            return future.hop(to: eventLoop)
        case .lead(let flight, let promise):
            load().whenComplete { [coalescer] result in
                coalescer.finish(key: key, id: flight)
                promise.completeWith(result)
            }
            return promise.futureResult
        }
    }

    /// A load's rows as the reply, counted, and in L1 as soon as they are in (whoever still waits for them).
    private func loaded(_ read: KeyRead, result: ReadResult, plan: ReadMachine.Plan, stamp: UInt64, call: BackendCall)
        -> LoadedReply
    {
        let type = read.type
        let finished = clock.monotonicNanoseconds()
        stats.backend.load.record(nanoseconds: finished &- call.startedAt)
        type.counters.loads.increment()

        let noRow = result.resultSet.rows.isEmpty
        if noRow { type.counters.loadsAbsent.increment() }
        let reply = noRow ? ResultEncoding.nullReply : ResultEncoding.keyedValue(result.resultSet)
        let cacheable = !noRow || plan.cachesMisses
        let tracker = accessTracker
        let lifetime =
            cacheable
            ? type.nextLifetime(
                readsPerSecond: read.key.withUnsafeReadableBytes { tracker.sustainedReadsPerSecond(group: type.group, key: $0) })
            : 0
        if plan.mayFillL1(isAbsent: noRow) {
            fillL1(
                read,
                with: ReadMachine.L1Fill(
                    reply: reply, isAbsent: noRow, expiresAt: finished &+ l1Lifetime(lifetime), isExpired: false),
                stamp: stamp, now: finished)
        }
        // EXISTS agrees with GET: a row whose single column is NULL reads as nil, so it does not exist.
        return LoadedReply(
            reply: reply,
            isAbsent: reply.resp2.withUnsafeReadableBytes(ResultEncoding.isNull),
            lifetime: cacheable && type.policy.l2 ? lifetime : nil
        )
    }

    /// Whether a load may fill L2: its link is still the current one (nothing was missed since it began), and it
    /// did not take so long that the tombstone of a write during it may have expired.
    func mayFillL2(_ ticket: L2Consistency.Ticket, started: UInt64) -> Bool {
        guard let l2 else { return false }
        let limit = l2.configuration.tombstoneLifetime.nonNegativeNanoseconds / 2
        return clock.monotonicNanoseconds() &- started < limit && l2.consistency.isCurrent(ticket)
    }

    func l2Entry(_ loaded: LoadedReply, lifetime: UInt64, sequence: UInt64, tables: [String]) -> L2Entry {
        let now = clock.wallClockMilliseconds()
        return L2Entry(
            reply: loaded.reply,
            isAbsent: loaded.isAbsent,
            createdAtMilliseconds: now,
            expiresAtMilliseconds: now + lifetime.milliseconds,
            sequence: sequence,
            tables: tables
        )
    }
}

extension SQLValue {
    /// A statement parameter from a client's argument: text when it is UTF-8, else a blob, so SQLite's type
    /// affinity compares `'42'` equal to an INTEGER column's 42.
    init(parameter bytes: ByteBuffer) {
        let array = Array(bytes.readableBytesView)
        if String(validating: array, as: UTF8.self) != nil {
            self = .text(array)
        } else {
            self = .blob(array)
        }
    }
}

extension UInt64 {
    /// Nanoseconds as whole milliseconds, rounded up so a short life never becomes 0 (Redis refuses PX 0).
    var milliseconds: UInt64 { (self + 999_999) / 1_000_000 }
}
