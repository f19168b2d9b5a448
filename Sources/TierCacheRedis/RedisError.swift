/// An error from the Redis adapter, with a code the proxy maps to a client-facing reply in one place.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case invalidURL, connect, timeout, io, protocolError, server, closed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The Redis URL does not parse.
        public static let invalidURL = Code(.invalidURL)
        /// The TCP or Unix-socket connection could not be opened (refused, unreachable, connect timed out).
        public static let connect = Code(.connect)
        /// Redis did not answer within the command timeout, or no pool connection was free in time.
        public static let timeout = Code(.timeout)
        /// The connection dropped (reset, closed by the server, read or write failed).
        public static let io = Code(.io)
        /// Redis sent bytes hiredis could not parse, or a reply of a type we do not know.
        public static let protocolError = Code(.protocolError)
        /// Redis answered the connection's own set-up (AUTH, SELECT) with an error reply, e.g. `WRONGPASS`.
        public static let server = Code(.server)
        /// The connection or pool was closed, or the connection broke earlier and must be replaced.
        public static let closed = Code(.closed)

        public var description: String {
            switch base {
            case .invalidURL: "invalidURL"
            case .connect: "connect"
            case .timeout: "timeout"
            case .io: "io"
            case .protocolError: "protocolError"
            case .server: "server"
            case .closed: "closed"
            }
        }
    }

    public var code: Code
    /// A message for an operator: what failed, against which Redis, in hiredis' or the server's words.
    /// Never contains a password.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
