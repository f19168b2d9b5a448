import TierCacheSupport

/// An error from the Redis adapter, with a code the proxy maps to a client-facing reply in one place.
public struct RedisError: CodedError {
    public enum Code: String, ErrorCode {
        /// The Redis URL does not parse.
        case invalidURL
        /// The TCP or Unix-socket connection could not be opened (refused, unreachable, connect timed out).
        case connect
        /// Redis did not answer within the command timeout, or no pool connection was free in time.
        case timeout
        /// The connection dropped (reset, closed by the server, read or write failed).
        case io
        /// Redis sent bytes hiredis could not parse, or a reply of a type we do not know.
        case protocolError
        /// Redis answered the connection's own set-up (AUTH, SELECT) with an error reply, e.g. `WRONGPASS`.
        case server
        /// The connection or pool was closed, or the connection broke earlier and must be replaced.
        case closed
    }

    public var code: Code
    /// A message for an operator: what failed, against which Redis, in hiredis' or the server's words.
    /// Never contains a password.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
