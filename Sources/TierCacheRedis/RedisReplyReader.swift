import CHiredis

/// hiredis' RESP reply parser on bytes we read ourselves: for a connection whose socket belongs to an event loop
/// (NIO), where hiredis cannot do the I/O but still parses every reply.
///
/// Not `Sendable`: one connection, one thread (its event loop).
public final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        // hiredis returns nil only when out of memory.
        guard let reader = redisReaderCreate() else { fatalError("hiredis: out of memory creating a reply reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Appends received bytes.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw RedisError(.protocolError, "hiredis could not buffer a reply")
        }
    }

    /// The next complete reply, or nil until more bytes arrive.
    ///
    /// - Throws: `.protocolError` when the bytes are not RESP; the connection must then be closed.
    public func next() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            let reason = withUnsafeBytes(of: reader.pointee.errstr) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw RedisError(.protocolError, "protocol error from Redis: \(reason)")
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return try RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }
}
