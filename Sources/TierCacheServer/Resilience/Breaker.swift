import Logging
import Synchronization
import TierCachePolicy
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// A circuit breaker around one dependency, shared by every event loop: the pure `CircuitBreaker` under a lock,
/// with the clock, the counters `STATS` shows and one log line per transition.
final class Breaker: Sendable {
    let name: String
    let configuration: CircuitBreakerConfiguration
    /// Calls refused while open (or while the half-open probes were out).
    let rejected = Counter()
    let opened = Counter()
    let halfOpened = Counter()
    let closed = Counter()
    private let state: Mutex<(breaker: CircuitBreaker, since: UInt64)>
    /// Mirrors "closed" for `allows()`, so the common case takes no lock.
    private let isClosed = Atomic<Bool>(true)
    private let logger: Logger
    private let clock: any ServerClock

    init(name: String, configuration: CircuitBreakerConfiguration, logger: Logger, clock: any ServerClock) {
        self.name = name
        self.configuration = configuration
        self.clock = clock
        self.state = Mutex((CircuitBreaker(configuration), clock.monotonicNanoseconds()))
        self.logger = logger
    }

    /// Asks to make a call now.
    func admit() -> CircuitBreaker.Admission {
        let now = clock.monotonicNanoseconds()
        let (admission, moved) = state.withLock { state in
            let result = state.breaker.admit(now: now)
            if result.moved != nil { self.noteTransition(&state, now) }
            return result
        }
        if let moved { report(moved, detail: "letting \(configuration.halfOpenProbes) probe call(s) through") }
        if case .rejected = admission { rejected.increment() }
        return admission
    }

    /// Records the outcome of an admitted call that started at `started` (monotonic nanoseconds).
    ///
    /// - Parameter countingSlowness: false for a call whose time is its caller's doing (a client's own statement),
    ///   so that it can't make the dependency look slow.
    func record(
        _ outcome: CircuitBreaker.Outcome,
        admission: CircuitBreaker.Admission,
        started: UInt64,
        countingSlowness: Bool = true
    ) {
        let now = clock.monotonicNanoseconds()
        let duration = countingSlowness ? now &- started : 0
        let (moved, trip) = state.withLock { state -> (CircuitBreaker.Phase?, CircuitBreaker.Window?) in
            let wasClosed = state.breaker.phase == .closed
            let moved = state.breaker.record(
                outcome, admission: admission, durationNanoseconds: duration, now: now)
            if moved != nil { self.noteTransition(&state, now) }
            return (moved, wasClosed ? state.breaker.lastTrip : nil)
        }
        guard let moved else { return }
        announce(moved, trip: trip)
    }

    private func announce(_ moved: CircuitBreaker.Phase, trip: CircuitBreaker.Window?) {
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

    /// Bookkeeping of a transition, under the lock: when it happened, and the lock-free mirror of "closed" (kept
    /// in step with the state only here, so transitions in quick succession cannot leave it stale).
    private func noteTransition(_ state: inout (breaker: CircuitBreaker, since: UInt64), _ now: UInt64) {
        state.since = now
        isClosed.store(state.breaker.phase == .closed, ordering: .releasing)
    }

    /// Whether a call may go ahead now, for a dependency on the request path (Redis): no lock while closed. Its
    /// outcome comes later, in bulk, through `record(durations:failures:)`.
    @inline(__always)
    func allows() -> Bool {
        if isClosed.load(ordering: .relaxed) { return true }
        if case .rejected = admit() { return false }
        return true
    }

    /// Records a batch of outcomes under one lock: calls that succeeded, by duration, and calls that failed. Used
    /// where calls are not admitted one by one (every Redis command counts, whoever sent it); while half-open
    /// each counts as a probe.
    func record(durations: [UInt64], failures: Int) {
        guard !durations.isEmpty || failures > 0 else { return }
        let now = clock.monotonicNanoseconds()
        var moves: [(CircuitBreaker.Phase, CircuitBreaker.Window?)] = []
        state.withLock { state in
            func one(_ outcome: CircuitBreaker.Outcome, _ duration: UInt64) {
                let wasClosed = state.breaker.phase == .closed
                let admission: CircuitBreaker.Admission = wasClosed ? .allowed : .probe
                if let moved = state.breaker.record(
                    outcome, admission: admission, durationNanoseconds: duration, now: now)
                {
                    self.noteTransition(&state, now)
                    moves.append((moved, wasClosed ? state.breaker.lastTrip : nil))
                }
            }
            for duration in durations { one(.success, duration) }
            for _ in 0..<failures { one(.failure, 0) }
        }
        for (moved, trip) in moves { announce(moved, trip: trip) }
    }

    /// The state now (a lock: for reports and probes, not the request path).
    var phase: CircuitBreaker.Phase { state.withLock { $0.breaker.phase } }

    /// `STATS` → `resilience.breakers.<name>`. The window's calls and rates are those of the closed state (zero
    /// while open or half-open).
    var report: StatsNode {
        let now = clock.monotonicNanoseconds()
        let (phase, since, window) = state.withLock { state in
            (state.breaker.phase, state.since, state.breaker.phase == .closed ? state.breaker.window : nil)
        }
        return .map([
            ("state", .text(phase.rawValue)),
            ("seconds_in_state", .double(Double(now &- since) / 1e9)),
            ("window_calls", .integer(Int64(window?.count ?? 0))),
            ("failure_rate", .double(window?.failureRate ?? 0)),
            ("slow_rate", .double(window?.slowRate ?? 0)),
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

    /// `5s`, `250ms`: as the settings are written (settings are whole milliseconds).
    static func duration(_ nanoseconds: UInt64) -> String {
        TTL(milliseconds: Int64(clamping: nanoseconds / 1_000_000)).description
    }
}
