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

    /// A reply whose bulk-string payload the caller materialized itself (into its own buffer type, with one copy).
    public enum Raw<Bulk> {
        case bulk(Bulk)
        case other(RedisReply)
    }

    /// The next complete reply, with a top-level bulk string handed to `makeBulk` straight from hiredis' memory;
    /// nil until more bytes arrive.
    public func next<Bulk>(bulk makeBulk: (UnsafeRawBufferPointer) -> Bulk) throws(RedisError) -> Raw<Bulk>? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw parseError() }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        if reply.pointee.type == REDIS_REPLY_STRING {
            let count = reply.pointee.len
            return .bulk(makeBulk(UnsafeRawBufferPointer(start: count > 0 ? reply.pointee.str : nil, count: count)))
        }
        return .other(try RedisReply(copying: reply))
    }

    private func parseError() -> RedisError {
        let reason = withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return RedisError(.protocolError, "protocol error from Redis: \(reason)")
    }

    /// The next complete reply, or nil until more bytes arrive.
    ///
    /// - Throws: `.protocolError` when the bytes are not RESP; the connection must then be closed.
    public func next() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw parseError() }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return try RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }
}
