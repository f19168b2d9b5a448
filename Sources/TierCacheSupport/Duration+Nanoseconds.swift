extension Duration {
    /// This duration in nanoseconds, saturating.
    public var wholeNanoseconds: Int {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : Int(clamping: scaled + attoseconds / 1_000_000_000)
    }

    /// This duration in nanoseconds for a deadline on a monotonic clock: negative durations are 0, long ones
    /// saturate.
    public var nonNegativeNanoseconds: UInt64 { UInt64(clamping: wholeNanoseconds) }

    /// "200 ms", "1500 ms": milliseconds, the unit our timeouts are configured in.
    public var shortDescription: String {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return "\(milliseconds) ms"
    }
}
