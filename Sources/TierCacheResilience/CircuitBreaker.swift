/// A circuit breaker as a value: the state machine and its sliding window, with time passed in, so it is pure
/// and every transition can be tested step by step. Callers serialize access (the server keeps it in a `Mutex`).
///
///     closed ──(window ≥ minimumCalls and failure or slow rate ≥ threshold)──▶ open
///     open ──(openNanoseconds passed, at the next call)──▶ half-open
///     half-open ──(a probe fails or is slow)──▶ open
///     half-open ──(halfOpenProbes probes succeed)──▶ closed (with an empty window)
///
/// A call is asked for with ``admit(now:)`` and its outcome given to ``record(_:admission:durationNanoseconds:now:)``.
public struct CircuitBreaker: Sendable {
    public enum State: Sendable, Hashable {
        /// Counting outcomes in ``window``.
        case closed
        /// Refusing calls until `until` (monotonic nanoseconds).
        case open(until: UInt64)
        /// Letting `halfOpenProbes` calls through; `admitted` so far, `succeeded` of those.
        case halfOpen(admitted: Int, succeeded: Int)
    }

    /// Whether a call may go ahead.
    public enum Admission: Sendable, Hashable {
        case allowed
        /// A half-open probe: its outcome decides whether the breaker closes.
        case probe
        /// Refused: the breaker is open (or its probes are all out); try again in `retryAfterNanoseconds`.
        case rejected(retryAfterNanoseconds: UInt64)
    }

    /// What became of a call.
    public enum Outcome: Sendable, Hashable {
        case success
        /// The dependency failed: it counts towards opening.
        case failure
        /// The call failed for reasons of its own (bad arguments, a constraint): counted neither way.
        case ignored
    }

    /// The state's kind, for stats and logs.
    public enum Phase: String, Sendable, Hashable {
        case closed, open, halfOpen = "half_open"
    }

    public let configuration: CircuitBreakerConfiguration
    public private(set) var state: State
    /// The outcomes of the latest calls while closed. Kept beside the state, not in it: mutated in place, never
    /// copied (a copy per call would be an allocation per Redis command).
    public private(set) var window: Window
    /// The window as it stood when the breaker last opened from closed: what tripped it, for the log.
    public private(set) var lastTrip: Window?

    public init(_ configuration: CircuitBreakerConfiguration = .default) {
        self.configuration = configuration
        self.state = .closed
        self.window = Window(size: configuration.window)
    }

    public var phase: Phase {
        switch state {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    /// Asks to make a call at `now`. May move an open breaker whose time is up to half-open.
    ///
    /// - Returns: the admission, and the phase the breaker moved to if it moved.
    public mutating func admit(now: UInt64) -> (Admission, moved: Phase?) {
        switch state {
        case .closed:
            return (.allowed, nil)
        case .open(let until):
            guard now >= until else { return (.rejected(retryAfterNanoseconds: until - now), nil) }
            state = .halfOpen(admitted: 1, succeeded: 0)
            return (.probe, .halfOpen)
        case .halfOpen(let admitted, let succeeded):
            guard admitted < configuration.halfOpenProbes else {
                // Every probe is out; the next decision comes with their outcomes. Ask again shortly.
                return (.rejected(retryAfterNanoseconds: 100_000_000), nil)
            }
            state = .halfOpen(admitted: admitted + 1, succeeded: succeeded)
            return (.probe, nil)
        }
    }

    /// Records the outcome of a call that `admit` let through.
    ///
    /// - Returns: the phase the breaker moved to, if it moved.
    @discardableResult
    public mutating func record(
        _ outcome: Outcome,
        admission: Admission,
        durationNanoseconds: UInt64,
        now: UInt64
    ) -> Phase? {
        let slow = durationNanoseconds >= configuration.slowCallNanoseconds
        switch (state, admission) {
        case (.closed, .allowed):
            guard outcome != .ignored else { return nil }
            window.add(failed: outcome == .failure, slow: slow)
            if window.count >= configuration.minimumCalls,
                window.failureRate >= configuration.failureRateThreshold
                    || window.slowRate >= configuration.slowCallRateThreshold
            {
                state = .open(until: now &+ configuration.openNanoseconds)
                lastTrip = window
                window.reset()
                return .open
            }
            return nil
        case (.halfOpen(let admitted, let succeeded), .probe):
            switch outcome {
            case .failure:
                state = .open(until: now &+ configuration.openNanoseconds)
                return .open
            case .success where slow:
                state = .open(until: now &+ configuration.openNanoseconds)
                return .open
            case .success:
                if succeeded + 1 >= configuration.halfOpenProbes {
                    state = .closed  // with the window emptied when it opened
                    return .closed
                }
                state = .halfOpen(admitted: admitted, succeeded: succeeded + 1)
                return nil
            case .ignored:
                // The probe told us nothing about the dependency: give its place to another.
                state = .halfOpen(admitted: max(0, admitted - 1), succeeded: succeeded)
                return nil
            }
        default:
            // An outcome from before the last transition (a call admitted while closed that ends after the breaker
            // opened, say): the state it belonged to is gone.
            return nil
        }
    }

    /// The outcomes of the last `size` calls, in a ring.
    public struct Window: Sendable, Hashable {
        private var failed: [Bool]
        private var slow: [Bool]
        private var next = 0
        public private(set) var count = 0
        public private(set) var failures = 0
        public private(set) var slowCalls = 0

        init(size: Int) {
            failed = Array(repeating: false, count: max(1, size))
            slow = failed
        }

        mutating func reset() {
            self = Window(size: failed.count)
        }

        mutating func add(failed isFailure: Bool, slow isSlow: Bool) {
            if count == failed.count {
                if failed[next] { failures -= 1 }
                if slow[next] { slowCalls -= 1 }
            } else {
                count += 1
            }
            failed[next] = isFailure
            slow[next] = isSlow
            if isFailure { failures += 1 }
            if isSlow { slowCalls += 1 }
            next = (next + 1) % failed.count
        }

        public var failureRate: Double { count == 0 ? 0 : Double(failures) / Double(count) }
        public var slowRate: Double { count == 0 ? 0 : Double(slowCalls) / Double(count) }
    }
}
