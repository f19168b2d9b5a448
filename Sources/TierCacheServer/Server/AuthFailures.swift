import NIOCore
import Synchronization

/// Failed `AUTH` (and `HELLO … AUTH`) attempts per client address (its IP, whatever the port): the first few in a
/// minute are answered at once; after that each failure's answer waits, twice as long each time up to 5 s, and the
/// connection waits with it (AUTH is a barrier), so guessing passwords from one address slows to a crawl while
/// everyone else is unaffected. A success does not reset the count: the window does. At most `capacity`
/// addresses are remembered (the oldest forgotten first).
final class AuthFailures: Sendable {
    static let free = 5
    static let window: UInt64 = 60_000_000_000
    static let firstDelay: Int64 = 100_000_000
    static let longestDelay: Int64 = 5_000_000_000
    static let capacity = 10_000

    private struct Record {
        var failures: Int
        var since: UInt64
    }

    private let records = Mutex<[String: Record]>([:])

    /// Notes a failure from `host` at `now` (monotonic nanoseconds); returns how many failures that address has in
    /// the window, and how long its answer should wait.
    func failed(from host: String, now: UInt64) -> (failures: Int, delay: TimeAmount) {
        let failures = records.withLock { records -> Int in
            var record = records[host] ?? Record(failures: 0, since: now)
            if now &- record.since > Self.window { record = Record(failures: 0, since: now) }
            record.failures += 1
            if records[host] == nil, records.count >= Self.capacity,
                let oldest = records.min(by: { $0.value.since < $1.value.since })?.key
            {
                records.removeValue(forKey: oldest)
            }
            records[host] = record
            return record.failures
        }
        guard failures > Self.free else { return (failures, .zero) }
        let doublings = min(failures - Self.free - 1, 10)
        return (failures, .nanoseconds(min(Self.longestDelay, Self.firstDelay << doublings)))
    }
}
