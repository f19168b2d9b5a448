import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// How the database's failures read to clients and count against its breaker.
extension Database {
    /// `DBERR database did not answer within 5000 ms`; counts as the database's failure (for the breaker, and for
    /// serving stale).
    static func timedOut(after timeout: Duration) -> ProxyError {
        var error = ProxyError(.database, "database did not answer within \(timeout.shortDescription)")
        error.backendCode = .unavailable
        return error
    }

    /// `UNAVAILABLE database circuit open, retrying in 3s`: whole seconds, rounded up, at least 1.
    static func circuitOpen(_ dependency: String, retryAfter nanoseconds: UInt64) -> ProxyError {
        let seconds = max(1, (nanoseconds + 999_999_999) / 1_000_000_000)
        return ProxyError(.unavailable, "\(dependency) circuit open, retrying in \(seconds)s")
    }

    /// Whether a failed call says the database is unwell.
    static func outcome(of error: any Error, statements: StatementOrigin) -> CircuitBreaker.Outcome {
        guard
            let code = (error as? ProxyError)?.backendCode ?? (error as? BackendError)?.code
                ?? (error as? TransactionStepFailed)?.error.backendCode
        else {
            return .ignored  // ours, not the database's (an encoding limit, say)
        }
        switch code {
        case .unavailable, .busy, .failed:
            return .failure
        case .invalidStatement, .statementError, .interrupted:
            // A statement that does not prepare, fails while running or runs too long: when it is a client's, that
            // is the client's mistake, and other clients' calls must not be refused for it.
            return statements == .policy ? .failure : .ignored
        default:
            // Constraint, a value the statement refuses, parameter count, not read-only, not allowed, result too large: the request's own fault.
            return .ignored
        }
    }

    /// Whether a policy's load failed for the database's sake, so a stale entry may answer for it: an error that
    /// counts against the database's breaker (a timeout among them), or the breaker open.
    static func isUnwell(_ error: any Error) -> Bool {
        (error as? ProxyError)?.code == .unavailable || outcome(of: error, statements: .policy) == .failure
    }

    /// A failed adapter call as the request path reports it: a backend's error becomes the client's `ProxyError`
    /// and is counted against `operation`; anything else (the thread pool stopped) passes through.
    static func clientError(_ error: any Error, counting errors: BackendRecorders, as operation: String) -> any Error {
        guard let backendError = error as? BackendError else { return error }
        errors.countError(backendError, operation: operation)
        return ProxyError(backendError)
    }
}
