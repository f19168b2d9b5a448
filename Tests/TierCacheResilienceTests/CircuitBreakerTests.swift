import Testing
import TierCacheResilience

/// The breaker's transitions, driven one call at a time with an explicit clock.
@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    static let second: UInt64 = 1_000_000_000
    static let configuration = CircuitBreakerConfiguration(
        failureRateThreshold: 0.5, slowCallRateThreshold: 0.8, slowCallNanoseconds: second, window: 10,
        minimumCalls: 4, openNanoseconds: 5 * second, halfOpenProbes: 2)

    /// Admits and records one call; returns the admission and any transition.
    @discardableResult
    static func call(
        _ breaker: inout CircuitBreaker,
        _ outcome: CircuitBreaker.Outcome,
        at now: UInt64,
        taking duration: UInt64 = 1_000_000
    ) -> (CircuitBreaker.Admission, [CircuitBreaker.Phase]) {
        let (admission, moved) = breaker.admit(now: now)
        var phases = moved.map { [$0] } ?? []
        if case .rejected = admission { return (admission, phases) }
        if let phase = breaker.record(outcome, admission: admission, durationNanoseconds: duration, now: now) {
            phases.append(phase)
        }
        return (admission, phases)
    }

    @Test("failures below the minimum number of calls never open it")
    func minimumCalls() {
        var breaker = CircuitBreaker(Self.configuration)
        for index in 0..<3 { Self.call(&breaker, .failure, at: UInt64(index)) }
        #expect(breaker.phase == .closed)
        let (_, moved) = Self.call(&breaker, .failure, at: 3)
        #expect(moved == [.open])
        #expect(breaker.phase == .open)
    }

    @Test("it opens at the failure-rate threshold over the sliding window, not before")
    func failureRate() {
        var breaker = CircuitBreaker(Self.configuration)
        // 10 successes fill the window; then failures push successes out one by one.
        for index in 0..<10 { Self.call(&breaker, .success, at: UInt64(index)) }
        for index in 0..<4 {
            Self.call(&breaker, .failure, at: 10 + UInt64(index))
            #expect(breaker.phase == .closed, "after \(index + 1) failures of 10")
        }
        let (_, moved) = Self.call(&breaker, .failure, at: 20)
        #expect(moved == [.open], "5 failures of the last 10 is 50 %")
    }

    @Test("slow calls open it at the slow-call-rate threshold, even when they succeed")
    func slowCalls() {
        var breaker = CircuitBreaker(Self.configuration)
        Self.call(&breaker, .success, at: 0)
        for index in 1...3 { Self.call(&breaker, .success, at: UInt64(index), taking: Self.second) }
        #expect(breaker.phase == .closed, "3 slow of 4 is 75 %")
        let (_, moved) = Self.call(&breaker, .success, at: 5, taking: 2 * Self.second)
        #expect(moved == [.open], "4 slow of 5 is 80 %")
    }

    @Test("open: calls are refused with the time left; after the open duration probes go through")
    func openThenHalfOpen() {
        var breaker = CircuitBreaker(Self.configuration)
        for index in 0..<4 { Self.call(&breaker, .failure, at: UInt64(index)) }
        let openedAt: UInt64 = 3
        let (refused, _) = Self.call(&breaker, .success, at: openedAt + 2 * Self.second)
        #expect(refused == .rejected(retryAfterNanoseconds: 3 * Self.second))
        let (probe, moved) = Self.call(&breaker, .success, at: openedAt + 5 * Self.second)
        #expect(probe == .probe)
        #expect(moved == [.halfOpen])
        let (_, closed) = Self.call(&breaker, .success, at: openedAt + 5 * Self.second + 1)
        #expect(closed == [.closed])
        #expect(breaker.phase == .closed)
    }

    @Test("half-open admits only the probes; one failed or slow probe opens it again for the full duration")
    func failedProbe() {
        for slowInsteadOfFailed in [false, true] {
            var breaker = CircuitBreaker(Self.configuration)
            for index in 0..<4 { Self.call(&breaker, .failure, at: UInt64(index)) }
            let reopen = 3 + 5 * Self.second
            let (first, _) = breaker.admit(now: reopen)
            let (second, _) = breaker.admit(now: reopen)
            let (third, _) = breaker.admit(now: reopen)
            #expect(first == .probe && second == .probe)
            guard case .rejected = third else {
                Issue.record("a third call went through while two probes were out")
                return
            }
            let moved =
                slowInsteadOfFailed
                ? breaker.record(.success, admission: first, durationNanoseconds: 2 * Self.second, now: reopen + 10)
                : breaker.record(.failure, admission: first, durationNanoseconds: 1, now: reopen + 10)
            #expect(moved == .open)
            #expect(breaker.state == .open(until: reopen + 10 + 5 * Self.second))
            // The other probe's late success changes nothing.
            #expect(breaker.record(.success, admission: second, durationNanoseconds: 1, now: reopen + 11) == nil)
            #expect(breaker.phase == .open)
        }
    }

    @Test("closing starts a fresh window: old failures do not count again")
    func freshWindowAfterClosing() {
        var breaker = CircuitBreaker(Self.configuration)
        for index in 0..<4 { Self.call(&breaker, .failure, at: UInt64(index)) }
        let later = 10 * Self.second
        Self.call(&breaker, .success, at: later)
        Self.call(&breaker, .success, at: later)
        #expect(breaker.phase == .closed)
        for index in 0..<3 { Self.call(&breaker, .failure, at: later + UInt64(index)) }
        #expect(breaker.phase == .closed, "3 calls are below the minimum of 4")
    }

    @Test("ignored outcomes count neither way, and an ignored probe frees its place")
    func ignored() {
        var breaker = CircuitBreaker(Self.configuration)
        for index in 0..<20 { Self.call(&breaker, .ignored, at: UInt64(index)) }
        Self.call(&breaker, .failure, at: 21)
        #expect(breaker.phase == .closed)
        #expect(breaker.state == .closed && breaker.window.count == 1)

        var open = CircuitBreaker(Self.configuration)
        for index in 0..<4 { Self.call(&open, .failure, at: UInt64(index)) }
        let reopen = 3 + 5 * Self.second
        let (probe, _) = open.admit(now: reopen)
        _ = open.admit(now: reopen)
        open.record(.ignored, admission: probe, durationNanoseconds: 1, now: reopen)
        let (another, _) = open.admit(now: reopen)
        #expect(another == .probe)
    }

    @Test("an outcome admitted while closed that ends after the breaker opened is dropped")
    func staleOutcome() {
        var breaker = CircuitBreaker(Self.configuration)
        let (early, _) = breaker.admit(now: 0)
        for index in 0..<4 { Self.call(&breaker, .failure, at: 1 + UInt64(index)) }
        #expect(breaker.phase == .open)
        #expect(breaker.record(.success, admission: early, durationNanoseconds: 1, now: 10) == nil)
        #expect(breaker.phase == .open)
    }
}

@Suite("CircuitBreakerConfiguration parsing")
struct CircuitBreakerConfigurationParsingTests {
    static func duration(_ text: String) -> UInt64? {
        if text.hasSuffix("ms"), let value = UInt64(text.dropLast(2)) { return value * 1_000_000 }
        if text.hasSuffix("s"), let value = UInt64(text.dropLast()) { return value * 1_000_000_000 }
        return nil
    }

    @Test("settings override the base; unset ones keep it")
    func settings() throws {
        let parsed = try CircuitBreakerConfiguration(
            parsing: "failure_rate=0.25, slow_rate=1,slow_call=250ms,window=50,min_calls=5,open=10s,probes=1",
            duration: Self.duration)
        #expect(
            parsed
                == CircuitBreakerConfiguration(
                    failureRateThreshold: 0.25, slowCallRateThreshold: 1, slowCallNanoseconds: 250_000_000, window: 50,
                    minimumCalls: 5, openNanoseconds: 10_000_000_000, halfOpenProbes: 1))
        #expect(try CircuitBreakerConfiguration(parsing: "probes=5", duration: Self.duration).window == 20)
    }

    @Test(
        "bad settings are refused with what was wrong",
        arguments: [
            ("nonsense", "'nonsense' is not key=value"),
            (
                "speed=3",
                "unknown setting 'speed' (known: failure_rate, slow_rate, slow_call, window, min_calls, open, probes)"
            ),
            ("failure_rate=0", "failure_rate must be a fraction in (0, 1], like 0.5; got '0'"),
            ("failure_rate=1.5", "failure_rate must be a fraction in (0, 1], like 0.5; got '1.5'"),
            ("open=soon", "open must be a positive duration like 500ms or 5s; got 'soon'"),
            ("window=0", "window must be a whole number from 1 to 100000; got '0'"),
            ("window=5,min_calls=6", "min_calls (6) cannot exceed window (5)"),
        ])
    func refused(spec: String, message: String) {
        #expect(throws: CircuitBreakerConfiguration.ParseError(message: message)) {
            try CircuitBreakerConfiguration(parsing: spec, duration: Self.duration)
        }
    }
}
