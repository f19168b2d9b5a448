import CHiredis
import Glibc
import TierCacheSupport

/// A blocking Redis connection over a hiredis `redisContext`.
///
/// Not `Sendable`: one thread at a time, since hiredis contexts are not thread-safe. Every call blocks the calling
/// thread for up to the command timeout, so call it from threads of our own, never from the Swift concurrency
/// cooperative pool or a NIO event loop.
///
/// Once a call fails at the connection level (`.io`, `.timeout`, `.protocolError`) the context is freed and the
/// connection is broken for good: a late reply would otherwise be read as the answer to the next command.
/// Replace it. Error replies (`.error` values) leave the connection usable.
public final class RedisConnection {
    /// The server this connection talks to.
    public let url: RedisURL
    private let commandTimeout: Duration
    /// Internal so the streaming extension (subscriptions) can drive hiredis' reader directly.
    var context: UnsafeMutablePointer<redisContext>?
    private var brokenReason: String?

    /// Connects, applies the command timeout, then authenticates (`AUTH [user] password`) and selects the database
    /// if the URL asks for them.
    ///
    /// - Parameters:
    ///   - url: where to connect and how to log in.
    ///   - connectTimeout: how long opening the socket may take; must be positive.
    ///   - commandTimeout: how long each later send or receive may block; must be positive.
    /// - Throws: `.connect` when the socket does not open, `.server` when Redis refuses AUTH or SELECT, or the
    ///   connection-level codes when set-up fails midway.
    public init(url: RedisURL, connectTimeout: Duration, commandTimeout: Duration) throws(RedisError) {
        precondition(connectTimeout > .zero, "connectTimeout must be positive")
        precondition(commandTimeout > .zero, "commandTimeout must be positive")
        self.url = url
        self.commandTimeout = commandTimeout
        let connected: UnsafeMutablePointer<redisContext>? =
            if let unixPath = url.unixPath {
                redisConnectUnixWithTimeout(unixPath, connectTimeout.timeval)
            } else {
                redisConnectWithTimeout(url.host ?? "", Int32(url.port), connectTimeout.timeval)
            }
        guard let connected else {
            throw RedisError(.connect, "cannot connect to \(url): out of memory")
        }
        if connected.pointee.err != 0 {
            let reason = Self.errorString(connected)
            redisFree(connected)
            throw RedisError(.connect, "cannot connect to \(url): \(reason)")
        }
        context = connected
        if redisSetTimeout(connected, commandTimeout.timeval) != REDIS_OK {
            let reason = Self.errorString(connected)
            close()
            throw RedisError(.connect, "cannot set the command timeout on \(url): \(reason)")
        }
        if let password = url.password {
            var auth = [Array("AUTH".utf8)]
            if let username = url.username { auth.append(Array(username.utf8)) }
            auth.append(Array(password.utf8))
            if case .error(let message) = try command(auth) {
                close()
                throw RedisError(.server, "authentication to \(url) failed: \(message)")
            }
        }
        if url.database != 0 {
            if case .error(let message) = try command([Array("SELECT".utf8), Array(String(url.database).utf8)]) {
                close()
                throw RedisError(.server, "cannot select database \(url.database) on \(url): \(message)")
            }
        }
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// Whether this connection can no longer be used: it failed at the connection level, or was closed.
    public var isBroken: Bool { context == nil }

    /// Frees the hiredis context. Later calls throw `.closed`. Idempotent.
    public func close() {
        if let context {
            redisFree(context)
            self.context = nil
            if brokenReason == nil { brokenReason = "it was closed" }
        }
    }

    /// Sends one command and waits for its reply. Binary safe.
    ///
    /// - Parameter arguments: the command name and its arguments; must not be empty.
    /// - Returns: the reply; an error reply is `.error(...)`, not a thrown error.
    /// - Throws: `.closed` on a closed or broken connection; `.io`, `.timeout` or `.protocolError` when the
    ///   connection fails, which breaks it.
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        precondition(!arguments.isEmpty, "a Redis command needs at least its name")
        let context = try usableContext()
        let raw = Self.withArgv(arguments) { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        guard let raw else { throw failed(context) }
        defer { freeReplyObject(raw) }
        return try RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends one command given as strings (UTF-8). See `command(_:)`.
    public func command(_ strings: String...) throws(RedisError) -> RedisReply {
        try command(strings.map { Array($0.utf8) })
    }

    /// Sends all commands in one write, then reads their replies in order: one round trip.
    ///
    /// - Parameter commands: each command as its name and arguments; none may be empty.
    /// - Returns: one reply per command, in order; error replies are `.error(...)` values.
    /// - Throws: as `command(_:)`; after a connection failure no reply is returned.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        if commands.isEmpty { return [] }
        let context = try usableContext()
        for arguments in commands {
            precondition(!arguments.isEmpty, "a Redis command needs at least its name")
            let status = Self.withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            // Appending only formats into hiredis' output buffer; it fails only when out of memory.
            if status != REDIS_OK { throw failed(context) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failed(context) }
            defer { freeReplyObject(raw) }
            do {
                replies.append(try RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self)))
            } catch {
                // The remaining replies are still in flight: the connection cannot be reused.
                close()
                throw error
            }
        }
        return replies
    }

    func usableContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        guard let context else {
            throw RedisError(.closed, "the connection to \(url) cannot be used: \(brokenReason ?? "it was closed")")
        }
        return context
    }

    /// Maps the context's failure to an error, then frees the context so the connection stays broken.
    ///
    /// hiredis 0.14.1 has no `REDIS_ERR_TIMEOUT`: a send or receive that outlives `SO_RCVTIMEO`/`SO_SNDTIMEO`
    /// fails as `REDIS_ERR_IO` with `errno` `EAGAIN`, whose `strerror` text hiredis copies into `errstr`.
    func failed(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let savedErrno = errno
        let reason = Self.errorString(context)
        let error: RedisError
        switch context.pointee.err {
        case REDIS_ERR_IO
        where savedErrno == EAGAIN || savedErrno == EWOULDBLOCK || reason == String(cString: strerror(EAGAIN)):
            error = RedisError(.timeout, "\(url) did not answer within \(commandTimeout.shortDescription)")
        case REDIS_ERR_IO:
            error = RedisError(.io, "connection to \(url) failed: \(reason)")
        case REDIS_ERR_EOF:
            error = RedisError(.io, "connection to \(url) was closed: \(reason)")
        case REDIS_ERR_PROTOCOL:
            error = RedisError(.protocolError, "protocol error from \(url): \(reason)")
        case REDIS_ERR_OOM:
            error = RedisError(.io, "connection to \(url) failed: out of memory")
        default:
            error = RedisError(.io, "connection to \(url) failed: \(reason.isEmpty ? "unknown error" : reason)")
        }
        brokenReason = "it failed earlier (\(error.message))"
        close()
        return error
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    /// Calls `body` with hiredis' `argc`, `argv` and `argvlen` for `arguments`, all valid only during the call.
    /// Copies the arguments into one buffer, so there is one allocation for the bytes and two for the arrays.
    static func withArgv<R>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        var storage: [UInt8] = []
        // One spare byte keeps the base address non-nil even when every argument is empty.
        storage.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.count)
            storage.append(contentsOf: argument)
        }
        storage.append(0)
        return storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { lengths in
                    body(Int32(arguments.count), argv.baseAddress!, lengths.baseAddress!)
                }
            }
        }
    }
}

extension Duration {
    /// This duration as hiredis' `struct timeval`, rounded up to whole microseconds.
    var timeval: Glibc.timeval {
        let (seconds, attoseconds) = components
        var wholeSeconds = Int(seconds)
        var microseconds = Int((attoseconds + 999_999_999_999) / 1_000_000_000_000)
        if microseconds >= 1_000_000 {
            wholeSeconds += 1
            microseconds -= 1_000_000
        }
        return Glibc.timeval(tv_sec: wholeSeconds, tv_usec: microseconds)
    }
}
