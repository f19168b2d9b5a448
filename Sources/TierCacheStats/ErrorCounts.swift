import Synchronization

/// Failures counted by operation and kind (`load`/`unavailable`, `exec`/`constraint`, …), for `STATS`' totals and
/// the metrics' labels. Failures are off the hit path, so one lock serves.
public final class ErrorCounts: Sendable {
    private let counts = Mutex<[Key: Int]>([:])

    private struct Key: Hashable {
        var operation: String
        var kind: String
    }

    public init() {}

    public func increment(operation: String, kind: String) {
        counts.withLock { $0[Key(operation: operation, kind: kind), default: 0] += 1 }
    }

    public var total: Int { counts.withLock { $0.values.reduce(0, +) } }

    /// Every pair counted so far, sorted by operation then kind.
    public var all: [(operation: String, kind: String, count: Int)] {
        counts.withLock { counts in
            counts.map { ($0.key.operation, $0.key.kind, $0.value) }
                .sorted { ($0.operation, $0.kind) < ($1.operation, $1.kind) }
        }
    }
}
