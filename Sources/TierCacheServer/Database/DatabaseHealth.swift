import Logging
import NIOCore
import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCacheStats
import TierCacheSupport

/// The outcome of the periodic database health checks (`BackendAdapter.checkHealth(on:)`): what `STATS` shows, and one log
/// line when the database becomes unwell, when it is well again, and when its file was reopened.
final class DatabaseHealth: Sendable {
    let checks = Counter()
    /// Checks that found a problem.
    let failures = Counter()
    /// Times the connections were reopened on a replaced database file.
    let reopened = Counter()
    private let state = Mutex<(problem: String?, checkedAt: UInt64?)>((nil, nil))
    /// Set while a check runs, so a slow one is not stacked on.
    private let running = Atomic<Bool>(false)
    private let logger: Logger
    private let clock: any ServerClock

    init(logger: Logger, clock: any ServerClock) {
        self.logger = logger
        self.clock = clock
    }

    /// What the last check found wrong; nil when it found the database well (or none ran yet).
    var problem: String? { state.withLock { $0.problem } }

    /// Runs one check, unless one is already running; records and logs what it found.
    func check(_ adapter: any BackendAdapter, on eventLoop: any EventLoop) {
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        adapter.checkHealth(on: eventLoop).whenComplete { [self] result in
            defer { running.store(false, ordering: .releasing) }
            switch result {
            case .success(let check): record(check)
            case .failure: break  // it did not run (the server is stopping)
            }
        }
    }

    private func record(_ result: BackendHealthCheck) {
        checks.increment()
        if result.problem != nil { failures.increment() }
        if result.reopened {
            reopened.increment()
            logger.warning("database file was replaced: connections reopened on the new file")
        }
        let previous = state.withLock { state in
            let previous = state.problem
            state = (result.problem, clock.monotonicNanoseconds())
            return previous
        }
        switch (previous, result.problem) {
        case (nil, let problem?):
            logger.error("database health check failed: \(problem)")
        case (let old?, let problem?) where old != problem:
            logger.error("database health check failed: \(problem)")
        case (_?, nil):
            logger.notice("database health check passes again")
        default:
            break
        }
    }

    var report: StatsNode {
        let (problem, checkedAt) = state.withLock { $0 }
        var fields: [(String, StatsNode)] = [
            ("status", .text(checkedAt == nil ? "unchecked" : problem == nil ? "ok" : "failing")),
            ("checks", .integer(Int64(checks.current))),
            ("failures", .integer(Int64(failures.current))),
            ("reopened", .integer(Int64(reopened.current))),
        ]
        if let checkedAt {
            fields.append(("seconds_since_check", .integer(Int64((clock.monotonicNanoseconds() &- checkedAt) / 1_000_000_000))))
        }
        if let problem { fields.append(("problem", .text(problem))) }
        return .map(fields)
    }
}

extension ConnectionPoolReport {
    var node: StatsNode {
        .map([
            ("size", .integer(Int64(size))),
            ("in_use", .integer(Int64(inUse))),
            ("idle", .integer(Int64(size - inUse))),
            ("waiting", .integer(Int64(waiting))),
            ("acquired", .integer(Int64(clamping: acquired))),
            ("timeouts", .integer(Int64(clamping: timedOut))),
        ])
    }
}
