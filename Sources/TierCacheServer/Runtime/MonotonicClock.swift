import NIOCore

/// Monotonic nanoseconds, the time base of L1 expiry and latency measurement.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds
}
