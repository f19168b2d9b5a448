import Glibc
import NIOCore

/// Monotonic nanoseconds, the time base of L1 expiry and latency measurement.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds
}

/// Wall-clock microseconds since the Unix epoch: for times shared between processes (L2 entries' logical expiry,
/// invalidation messages' send time). Never for durations measured inside one process.
func wallClockMicroseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(max(0, now.tv_sec)) * 1_000_000 + UInt64(max(0, now.tv_nsec)) / 1000
}
