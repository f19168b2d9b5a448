import Logging
import Synchronization
import TierCacheResilience
import TierCacheStats

/// A circuit breaker around one dependency, shared by every event loop: the pure `CircuitBreaker` under a lock,
/// with the clock, the counters `STATS` shows and one log line per transition.
final class Breaker: Sendable {
    /// What `STATS` shows of it.
    struct Snapshot: Sendable {
        var phase: CircuitBreaker.Phase
        var secondsInPhase: Double
        /// Calls in the closed window and their failure and slow rates (zero while open or half-open).
        var windowCalls: Int
        var failureRate: Double
        var slowRate: Double
    }

    let name: String
    let configuration: CircuitBreakerConfiguration
    /// Calls refused while open (or while the half-open probes were out).
    let rejected = Counter()
    let opened = Counter()
    let halfOpened = Counter()
    let closed = Counter()
    private let state: Mutex<(breaker: CircuitBreaker, since: UInt64)>
    private let logger: Logger

    init(name: String, configuration: CircuitBreakerConfiguration, logger: Logger) {
        self.name = name
        self.configuration = configuration
        self.state = Mutex((CircuitBreaker(configuration), monotonicNanoseconds()))
        self.logger = logger
    }

    /// Asks to make a call now.
    func admit() -> CircuitBreaker.Admission {
        let now = monotonicNanoseconds()
        let (admission, moved) = state.withLock { state in
            let result = state.breaker.admit(now: now)
            if result.moved != nil { state.since = now }
            return result
        }
        if let moved { report(moved, detail: "letting \(configuration.halfOpenProbes) probe call(s) through") }
        if case .rejected = admission { rejected.increment() }
        return admission
    }

    /// Records the outcome of an admitted call that started at `started` (monotonic nanoseconds).
    func record(_ outcome: CircuitBreaker.Outcome, admission: CircuitBreaker.Admission, started: UInt64) {
        let now = monotonicNanoseconds()
        let (moved, trip) = state.withLock { state -> (CircuitBreaker.Phase?, CircuitBreaker.Window?) in
            let wasClosed = state.breaker.phase == .closed
            let moved = state.breaker.record(
                outcome, admission: admission, durationNanoseconds: now &- started, now: now)
            if moved != nil { state.since = now }
            return (moved, wasClosed ? state.breaker.lastTrip : nil)
        }
        guard let moved else { return }
        let refusing = "refusing calls for \(Self.duration(configuration.openNanoseconds))"
        switch moved {
        case .open:
            let cause =
                trip.map { window in
                    "\(Self.percent(window.failureRate)) of the last \(window.count) calls failed, "
                        + "\(Self.percent(window.slowRate)) took "
                        + "\(Self.duration(configuration.slowCallNanoseconds)) or more"
                } ?? "a probe call failed or was slow"
            report(.open, detail: "\(cause); \(refusing)")
        default:
            report(moved, detail: "\(configuration.halfOpenProbes) probe call(s) succeeded")
        }
    }

    var snapshot: Snapshot {
        let now = monotonicNanoseconds()
        return state.withLock { state in
            var snapshot = Snapshot(
                phase: state.breaker.phase, secondsInPhase: Double(now &- state.since) / 1e9, windowCalls: 0,
                failureRate: 0, slowRate: 0)
            if case .closed(let window) = state.breaker.state {
                snapshot.windowCalls = window.count
                snapshot.failureRate = window.failureRate
                snapshot.slowRate = window.slowRate
            }
            return snapshot
        }
    }

    /// `STATS` → `resilience.breakers.<name>`.
    var report: StatsNode {
        let now = snapshot
        return .map([
            ("state", .text(now.phase.rawValue)),
            ("seconds_in_state", .double(now.secondsInPhase)),
            ("window_calls", .integer(Int64(now.windowCalls))),
            ("failure_rate", .double(now.failureRate)),
            ("slow_rate", .double(now.slowRate)),
            ("opened", .integer(Int64(opened.current))),
            ("half_opened", .integer(Int64(halfOpened.current))),
            ("closed", .integer(Int64(closed.current))),
            ("rejected", .integer(Int64(rejected.current))),
        ])
    }

    private func report(_ phase: CircuitBreaker.Phase, detail: String) {
        switch phase {
        case .open:
            opened.increment()
            logger.warning("\(name) circuit breaker opened: \(detail)")
        case .halfOpen:
            halfOpened.increment()
            logger.notice("\(name) circuit breaker half-open: \(detail)")
        case .closed:
            closed.increment()
            logger.notice("\(name) circuit breaker closed: \(detail)")
        }
    }

    private static func percent(_ rate: Double) -> String { "\(Int((rate * 100).rounded())) %" }

    /// `3s`, `500ms`.
    static func duration(_ nanoseconds: UInt64) -> String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)s" : "\(nanoseconds / 1_000_000)ms"
    }
}
