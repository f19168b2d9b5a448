import Synchronization
import TierCacheCache
import TierCacheSupport

/// Which keys of each data type are read most: a `HotKeySketch` per accounting group, fed a sample of reads, and
/// halved every `window`. Feeds `STATS HOT`, adaptive TTLs (`ttl_max`) and the hot-key snapshot.
final class AccessTracker: Sendable {
    /// Connections report one read in this many (a power of two), weighted by it: the hit path stays cheap.
    static let sampleEvery = 32
    /// Keys each type's top list holds (and the hot-key snapshot saves).
    static let hotKeysPerType = 256
    /// Counts are halved every `window`: a key read steadily at r per second settles near `2 × r × window`.
    let window: Duration
    /// By group; a sketch (32 kB) is made on a group's first read.
    private let sketches: [SketchBox]
    private let lastDecay: Mutex<UInt64>

    init(window: Duration, groups: Int = TypeRegistry.capacity, now: UInt64) {
        self.window = window
        self.lastDecay = Mutex(now)
        self.sketches = (0..<groups).map { _ in SketchBox() }
    }

    /// Records one sampled read of `key` of group `group`.
    func record(group: Int32, key: UnsafeRawBufferPointer) {
        guard group >= 0, Int(group) < sketches.count else { return }
        sketches[Int(group)].sketch.withLock { sketch in
            if sketch == nil { sketch = HotKeySketch(capacity: Self.hotKeysPerType) }
            sketch?.record(key, weight: UInt32(Self.sampleEvery))
        }
    }

    /// Estimated reads per second of `key` (0 for a key not read lately).
    func readsPerSecond(group: Int32, key: UnsafeRawBufferPointer) -> Double {
        rate(count(group: group, key: key))
    }

    /// Estimated reads per second of `key` for adaptive TTL: 0 until the key was seen in at least two samples.
    /// One sampled read weighs `sampleEvery` reads, so without this floor a key read once (one chance in
    /// `sampleEvery`) would look read dozens of times a TTL and live several TTLs.
    func sustainedReadsPerSecond(group: Int32, key: UnsafeRawBufferPointer) -> Double {
        let count = count(group: group, key: key)
        return count >= 2 * UInt32(Self.sampleEvery) ? rate(count) : 0
    }

    /// The sketch's weighted count of `key`'s reads in the group.
    private func count(group: Int32, key: UnsafeRawBufferPointer) -> UInt32 {
        guard group >= 0, Int(group) < sketches.count else { return 0 }
        return sketches[Int(group)].sketch.withLock { $0?.estimate(key) ?? 0 }
    }

    /// A weighted count as reads per second: a steady rate r settles near `2 × r × window`.
    private func rate(_ count: UInt32) -> Double { Double(count) / (2 * window.seconds) }

    /// The most read keys of a group with their estimated reads per second, highest first.
    func hottest(group: Int32, limit: Int) -> [(key: [UInt8], readsPerSecond: Double)] {
        guard group >= 0, Int(group) < sketches.count else { return [] }
        let top = sketches[Int(group)].sketch.withLock { $0?.top(limit) ?? [] }
        return top.map { ($0.key, rate($0.count)) }
    }

    /// Halves every count once a window has passed since the last time (called by the periodic upkeep).
    func decayIfDue(now: UInt64) {
        let due = lastDecay.withLock { last -> Bool in
            guard now &- last >= UInt64(clamping: window.wholeNanoseconds) else { return false }
            last = now
            return true
        }
        guard due else { return }
        for box in sketches {
            box.sketch.withLock { $0?.decay() }
        }
    }
}

private final class SketchBox: Sendable {
    let sketch = Mutex<HotKeySketch?>(nil)
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
