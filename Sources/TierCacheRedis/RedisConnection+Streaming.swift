import CHiredis
import Glibc
import TierCacheSupport

/// Sending without waiting, and waiting for a reply with a deadline that does not break the connection: what a
/// subscribed connection needs, since its replies (messages) arrive whenever other clients publish.
///
/// hiredis' blocking `redisGetReply` treats a read timeout as a connection failure (0.14 has no way back from it),
/// so the wait here is a `poll` on the socket, and hiredis reads only when bytes are there.
extension RedisConnection {
    /// Writes one command to the socket without reading its reply.
    public func send(_ arguments: [[UInt8]]) throws(RedisError) {
        precondition(!arguments.isEmpty, "a Redis command needs at least its name")
        let context = try usableContext()
        let status = Self.withArgv(arguments) { argc, argv, lengths in
            redisAppendCommandArgv(context, argc, argv, lengths)
        }
        if status != REDIS_OK { throw failed(context) }
        var done: Int32 = 0
        repeat {
            if redisBufferWrite(context, &done) != REDIS_OK { throw failed(context) }
        } while done == 0
    }

    /// The next reply, or nil when none is complete within `timeout`; the connection stays usable either way.
    public func nextReply(within timeout: Duration) throws(RedisError) -> RedisReply? {
        let context = try usableContext()
        if let reply = try bufferedReply(context) { return reply }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: max(0, timeout.wholeNanoseconds / 1_000_000))
        let ready = poll(&descriptor, 1, milliseconds)
        if ready == 0 || (ready < 0 && errno == EINTR) { return nil }
        if ready < 0 {
            let reason = String(cString: strerror(errno))
            close()
            throw RedisError(.io, "waiting for \(url) failed: \(reason)")
        }
        // Readable (or closed: then the read reports EOF and the connection is broken).
        if redisBufferRead(context) != REDIS_OK { throw failed(context) }
        return try bufferedReply(context)
    }

    /// A reply already complete in hiredis' input buffer, without touching the socket.
    private func bufferedReply(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        if redisGetReplyFromReader(context, &raw) != REDIS_OK { throw failed(context) }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return try RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }
}
