import Synchronization

/// A monotonically increasing count shared across event loops.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    @inline(__always)
    public func increment(by amount: Int = 1) {
        value.wrappingAdd(amount, ordering: .relaxed)
    }

    public var current: Int { value.load(ordering: .relaxed) }
}

/// A value that goes up and down (open connections, in-flight loads).
public final class Gauge: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    /// Returns the new value.
    @discardableResult
    public func increment() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
    public func decrement() { value.wrappingSubtract(1, ordering: .relaxed) }
    public var current: Int { value.load(ordering: .relaxed) }
}
