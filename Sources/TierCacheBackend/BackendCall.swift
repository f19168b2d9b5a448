import NIOCore
import Synchronization

/// One call to a `BackendAdapter`: the event loop its future completes on, and when the database began working on
/// it. An adapter calls `begin(now:)` once the call stops waiting for resources of the server's own (a thread of
/// the pool); the breaker judges slowness from then, and the latency stats measure from then.
public final class BackendCall: Sendable {
    public let eventLoop: any EventLoop
    /// Monotonic nanoseconds when the call was made.
    public let submittedAt: UInt64
    private let began: Atomic<UInt64>

    public init(eventLoop: any EventLoop, submittedAt: UInt64) {
        self.eventLoop = eventLoop
        self.submittedAt = submittedAt
        self.began = Atomic(0)
    }

    /// Marks the start of the database's own work; only the first mark counts.
    public func begin(now: UInt64) {
        _ = began.compareExchange(expected: 0, desired: now, ordering: .relaxed)
    }

    /// When the database began (the submission time when the adapter never said).
    public var startedAt: UInt64 {
        let began = began.load(ordering: .relaxed)
        return began == 0 ? submittedAt : began
    }
}
