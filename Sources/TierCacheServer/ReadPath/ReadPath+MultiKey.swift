import NIOCore
import TierCacheCache
import TierCacheStats
import TierCacheSupport

/// Reads of several keys at once: MGET's (L2 look-ups batched into one round trip) and EXISTS' L1 look-up.
extension ReadPath {
    /// Reads several keys that missed L1 (MGET): those whose types use L2 in one MGET round trip, each L2 miss
    /// then from the backend. Results are in the order of `reads`.
    func read(many reads: [KeyRead], on eventLoop: any EventLoop) -> EventLoopFuture<[LoadedReply]> {
        guard eventLoop.inEventLoop else { return eventLoop.flatSubmit { self.read(many: reads, on: eventLoop) } }
        let plans = reads.map(plan(for:))
        let batched = plans.indices.filter { plans[$0].consultsL2 }
        let stamp = sequencer.current
        guard let l2, batched.count > 1 else {
            // One key gains nothing from batching.
            let futures = reads.indices.map { index in
                var machine = ReadMachine(plan: plans[index])
                let action = machine.l1Missed(expired: false)
                let promise = eventLoop.makePromise(of: LoadedReply.self)
                ReadTask(
                    path: self, read: reads[index], machine: machine, stamp: stamp, eventLoop: eventLoop
                ).run(action, completion: promise.completeWith)
                return promise.futureResult
            }
            return EventLoopFuture.whenAllSucceed(futures, on: eventLoop)
        }
        let keys = batched.map { l2.namespace.entryKey(reads[$0].key) }
        // The requests' bytes are slices of the connection's read buffer; the reads outlive them.
        let owned = reads.map { read -> KeyRead in
            var read = read
            read.key = ByteBuffer(bytes: read.key.readableBytesView)
            read.id = ByteBuffer(bytes: read.id.readableBytesView)
            return read
        }
        return l2.get(many: keys, on: eventLoop).flatMap { [self] lookups in
            var lookupOf = [L2Tier.Lookup?](repeating: nil, count: owned.count)
            for (position, index) in batched.enumerated() { lookupOf[index] = lookups[position] }
            let futures = owned.indices.map { index in
                var machine = ReadMachine(plan: plans[index])
                var action = machine.l1Missed(expired: false)
                if let lookup = lookupOf[index] {
                    countL1Miss(owned[index])
                    action = l2Replied(lookup, read: owned[index], stamp: stamp, machine: &machine)
                }
                let promise = eventLoop.makePromise(of: LoadedReply.self)
                ReadTask(
                    path: self, read: owned[index], machine: machine, stamp: stamp, eventLoop: eventLoop,
                    missCounted: lookupOf[index] != nil
                ).run(action, completion: promise.completeWith)
                return promise.futureResult
            }
            return EventLoopFuture.whenAllSucceed(futures, on: eventLoop)
        }
    }

    /// Whether a keyed entry is in L1 and says "row exists" (for EXISTS); nil when L1 doesn't know.
    func existsInL1(_ key: ByteBuffer, now: UInt64, policy: PolicyState) -> Bool? {
        var present = false
        let result = l1.lookup(key, now: now) { info, resp2, _ in
            guard policy.keyedEntryIsFresh(info) else { return false }
            present = !ResultEncoding.isNull(resp2)
            return true
        }
        guard case .hit(let group) = result else { return nil }
        policy.counters(ofGroup: group).l1.hits.increment()
        return present
    }
}
