import Synchronization

/// Numbers committed writes. A load remembers the number current when it started (its stamp); an entry is
/// stale when a write that could affect it was numbered after that stamp.
///
/// A writer takes its number after the backend committed, so a load stamped with that number or later
/// started after the commit and saw the new data.
public final class WriteSequencer: Sendable {
    private let value = Atomic<UInt64>(0)

    public init() {}

    /// The stamp for a load starting now.
    public var current: UInt64 { value.load(ordering: .acquiring) }

    /// Called after a write committed: its sequence number.
    public func next() -> UInt64 {
        value.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
    }
}

/// The newest write stamp that may affect a set of entries. Raised with an atomic max, because writers
/// finish in any order.
public final class InvalidationStamp: Sendable {
    private let value = Atomic<UInt64>(0)

    public init() {}

    @inline(__always)
    public var current: UInt64 { value.load(ordering: .acquiring) }

    /// Sets the stamp, also downwards: only for a reset that replaces everything known (an L2 sync).
    public func reset(to stamp: UInt64) {
        value.store(stamp, ordering: .releasing)
    }

    public func raise(to stamp: UInt64) {
        var observed = value.load(ordering: .relaxed)
        while observed < stamp {
            let (exchanged, original) = value.compareExchange(
                expected: observed,
                desired: stamp,
                ordering: .acquiringAndReleasing
            )
            if exchanged { return }
            observed = original
        }
    }
}
