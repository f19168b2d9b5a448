import CHiredis

/// A RESP2 reply, copied out of hiredis' `redisReply` tree.
public enum RedisReply: Sendable, Hashable {
    /// A simple string (`+OK`).
    case status(String)
    /// An error reply (`-WRONGTYPE ...`): a normal answer to the command, not a failure of the connection.
    case error(String)
    case integer(Int64)
    /// A bulk string, binary safe.
    case bulk([UInt8])
    /// A nil bulk string or nil array.
    case null
    case array([RedisReply])
}

extension RedisReply {
    /// Copies a hiredis reply tree. Does not free it: the caller owns `reply` and calls `freeReplyObject`.
    ///
    /// - Throws: `.protocolError` for a reply type hiredis 0.14 does not produce.
    init(copying reply: UnsafePointer<redisReply>) throws(RedisError) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_STRING:
            self = .bulk(Array(Self.bytes(r.str, r.len)))
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                guard let element = r.element[index] else {
                    throw RedisError(.protocolError, "hiredis returned an array with a missing element")
                }
                elements.append(try RedisReply(copying: element))
            }
            self = .array(elements)
        default:
            throw RedisError(.protocolError, "hiredis returned an unknown reply type \(r.type)")
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> UnsafeRawBufferPointer {
        guard let pointer, count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: pointer, count: count)
    }
}
