/// Bounds on what a peer may make us buffer or allocate, so one client cannot exhaust the proxy's memory.
///
/// The request parser checks each bound as soon as the offending header or line is visible, before the payload
/// arrives, so an oversized request is refused without being buffered.
public struct RESPLimits: Sendable, Hashable {
    /// Longest inline command line, in bytes, without its line terminator.
    public var maxInlineLength: Int
    /// Longest bulk string (one command argument, or one reply string), in bytes.
    public var maxBulkLength: Int
    /// Most elements in one multibulk request (arguments of one command), or in one reply aggregate.
    public var maxArrayCount: Int

    /// Creates limits; the defaults suit a cache proxy in front of Redis.
    ///
    /// - Parameters:
    ///   - maxInlineLength: Longest inline command line in bytes; 64 KiB like Redis' `PROTO_INLINE_MAX_SIZE`.
    ///   - maxBulkLength: Longest bulk string in bytes; 64 MiB, below Redis' 512 MiB, since we cache values in memory.
    ///   - maxArrayCount: Most arguments in one command; 1,048,576 like Redis for unauthenticated clients.
    public init(
        maxInlineLength: Int = 64 * 1024,
        maxBulkLength: Int = 64 * 1024 * 1024,
        maxArrayCount: Int = 1_048_576
    ) {
        self.maxInlineLength = maxInlineLength
        self.maxBulkLength = maxBulkLength
        self.maxArrayCount = maxArrayCount
    }

    /// The default limits: 64 KiB inline lines, 64 MiB bulk strings, 1,048,576 arguments.
    public static let `default` = RESPLimits()

    /// The limits for a client that has not authenticated yet, as Redis has them: at most 10 arguments of at most
    /// 16 KiB each (and inline lines of 16 KiB), enough for `AUTH` and `HELLO … AUTH … SETNAME`, so no one can make
    /// the server buffer megabytes before giving a password. Never above `self`.
    public var beforeAuthentication: RESPLimits {
        RESPLimits(
            maxInlineLength: min(maxInlineLength, 16 * 1024),
            maxBulkLength: min(maxBulkLength, 16 * 1024),
            maxArrayCount: min(maxArrayCount, 10)
        )
    }
}
