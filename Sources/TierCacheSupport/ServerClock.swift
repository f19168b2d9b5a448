import Glibc
import Synchronization

/// The time the server runs on: every "now" on the request path, in timers' bookkeeping and in the stats comes
/// from one of these, so tests can move time instead of sleeping (`TestClock`).
public protocol ServerClock: Sendable {
    /// Monotonic nanoseconds: for expiry inside this process and for durations. Never goes back.
    func monotonicNanoseconds() -> UInt64
    /// Wall-clock microseconds since the Unix epoch: for times shared between processes (L2 entries' logical
    /// expiry, invalidation messages' send time). Never for durations measured inside one process.
    func wallClockMicroseconds() -> UInt64
}

extension ServerClock {
    /// Wall-clock milliseconds since the Unix epoch (L2 entries keep their times in these).
    @inline(__always)
    public func wallClockMilliseconds() -> UInt64 { wallClockMicroseconds() / 1000 }
}

/// The operating system's clocks (`CLOCK_MONOTONIC`, as NIO's deadlines use, and `CLOCK_REALTIME`).
public struct SystemClock: ServerClock {
    public init() {}

    @inline(__always)
    public func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(max(0, now.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, now.tv_nsec))
    }

    public func wallClockMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(max(0, now.tv_sec)) * 1_000_000 + UInt64(max(0, now.tv_nsec)) / 1000
    }
}

/// A clock that moves only when told (`advance(by:)`): for tests of expiry, timeouts and rates without sleeps.
/// Both readings move together; the wall clock starts at a fixed, realistic date.
public final class TestClock: ServerClock {
    private let monotonic: Atomic<UInt64>
    private let wallOffsetMicroseconds: UInt64

    /// - Parameters:
    ///   - monotonicStart: the first monotonic reading: a day of uptime, so times in the past stay positive.
    ///   - wallClockStart: the first wall-clock reading, microseconds since the epoch (default 2026-01-01).
    public init(monotonicStart: UInt64 = 86_400_000_000_000, wallClockStart: UInt64 = 1_767_225_600_000_000) {
        monotonic = Atomic(monotonicStart)
        wallOffsetMicroseconds = wallClockStart &- monotonicStart / 1000
    }

    public func monotonicNanoseconds() -> UInt64 { monotonic.load(ordering: .acquiring) }

    public func wallClockMicroseconds() -> UInt64 {
        wallOffsetMicroseconds &+ monotonic.load(ordering: .acquiring) / 1000
    }

    /// Moves both readings forward.
    public func advance(by duration: Duration) {
        monotonic.add(UInt64(clamping: duration.wholeNanoseconds), ordering: .acquiringAndReleasing)
    }

    /// Moves both readings forward by nanoseconds.
    public func advance(nanoseconds: UInt64) {
        monotonic.add(nanoseconds, ordering: .acquiringAndReleasing)
    }
}
