import NIOCore
import TierCacheStats
import TierCacheSupport

/// Latency and counters, recorded per batch: one clock read and one histogram lock per command kind for a whole
/// pipeline, not per command.
extension ConnectionHandler {
    /// Records the latency of the commands this batch answered: from the batch's start to now, which is when
    /// their replies are complete in the output buffer.
    func recordBatch(started: UInt64) {
        record?.noteBatch(at: started, lastCommand: lastKind)
        for group in hitGroups {
            policy.counters(ofGroup: group).l1.hits.increment(by: hitsInBatch[Int(group)])
            hitsInBatch[Int(group)] = 0
        }
        hitGroups.removeAll(keepingCapacity: true)
        guard !answeredKinds.isEmpty else { return }
        let elapsed = clock.monotonicNanoseconds() &- started
        var total = 0
        for kind in answeredKinds {
            let count = answeredInBatch[kind.rawValue]
            proxy.stats.recorder(for: kind).record(nanoseconds: elapsed, count: count)
            answeredInBatch[kind.rawValue] = 0
            total += count
        }
        answeredKinds.removeAll(keepingCapacity: true)
        proxy.stats.commandsProcessed.increment(by: total)
    }

    func recordArrived() {
        guard !arrivedKinds.isEmpty else { return }
        let now = clock.monotonicNanoseconds()
        var total = 0
        for kind in arrivedKinds {
            total += arrivedLatencies[kind.rawValue].count
            for index in arrivedLatencies[kind.rawValue].indices {
                arrivedLatencies[kind.rawValue][index] = now &- arrivedLatencies[kind.rawValue][index]
            }
            proxy.stats.recorder(for: kind).record(all: arrivedLatencies[kind.rawValue])
            arrivedLatencies[kind.rawValue].removeAll(keepingCapacity: true)
        }
        arrivedKinds.removeAll(keepingCapacity: true)
        proxy.stats.commandsProcessed.increment(by: total)
    }
}
