import Testing
import TierCacheBackend
import TierCacheResilience

@testable import TierCacheServer

/// Which failed database calls count against the database's circuit breaker, and the refusal clients see.
@Suite("Database breaker: outcomes and refusals")
struct DatabaseBreakerClassificationTests {
    @Test(
        "the database's failures count; the request's own mistakes do not; a client's bad SQL is its own",
        arguments: [
            (BackendError.Code.unavailable, CircuitBreaker.Outcome.failure, CircuitBreaker.Outcome.failure),
            (.busy, .failure, .failure),
            (.failed, .failure, .failure),
            (.invalidStatement, .failure, .ignored),
            (.constraint, .ignored, .ignored),
            (.parameterCount, .ignored, .ignored),
            (.notReadOnly, .ignored, .ignored),
            (.invalidValue, .ignored, .ignored),
        ])
    func outcomes(code: BackendError.Code, policy: CircuitBreaker.Outcome, client: CircuitBreaker.Outcome) {
        let error = BackendError(code, "x")
        #expect(Database.outcome(of: error, statements: .policy) == policy)
        #expect(Database.outcome(of: ProxyError(error), statements: .policy) == policy, "as the client sees it")
        #expect(Database.outcome(of: ProxyError(error), statements: .client) == client)
    }

    @Test("errors that are not the database's are ignored")
    func notTheDatabase() {
        #expect(Database.outcome(of: ProxyError(.generic, "reply too large"), statements: .policy) == .ignored)
    }

    @Test("the refusal names the dependency and the whole seconds to the next try, rounded up, at least 1")
    func refusal() {
        #expect(Database.circuitOpen("database", retryAfter: 2_100_000_000).replyText
            == "UNAVAILABLE database circuit open, retrying in 3s")
        #expect(Database.circuitOpen("database", retryAfter: 3_000_000_000).replyText
            == "UNAVAILABLE database circuit open, retrying in 3s")
        #expect(Database.circuitOpen("database", retryAfter: 1).replyText
            == "UNAVAILABLE database circuit open, retrying in 1s")
    }
}
