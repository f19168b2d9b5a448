/// A decoded RESP2 or RESP3 reply, for clients of a Redis-compatible server: our `tiercache stats` command and
/// tests. The server's own hot path writes replies with the `ByteBuffer` writers and never builds these.
///
/// RESP2's null bulk string (`$-1`) and null array (`*-1`) both decode as ``null``, like RESP3's `_`.
public indirect enum RESPValue: Sendable, Hashable {
    /// `+text`: a short status such as `OK`.
    case simpleString(String)
    /// `-text` or `!<length>` (RESP3 blob error): the message with its prefix, such as `ERR unknown command`.
    case error(String)
    /// `:n`: a signed 64-bit integer.
    case integer(Int64)
    /// `$<length>`: a binary-safe string.
    case bulkString([UInt8])
    /// `$-1`, `*-1` or `_`: no value.
    case null
    /// `*<count>`: an ordered list.
    case array([RESPValue])
    /// `%<count>`: key-value pairs in the server's order; an array of pairs, since keys need not be unique.
    case map([RESPPair])
    /// `~<count>`: an unordered collection, kept in the server's order.
    case set([RESPValue])
    /// `,value`: a double, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// `#t` or `#f`.
    case boolean(Bool)
    /// `(digits`: an integer too large for 64 bits, as its decimal text.
    case bigNumber(String)
    /// `=<length>` with `fmt:text`: a string with a three-letter format hint such as `txt` or `mkd`.
    case verbatimString(format: String, text: [UInt8])
    /// `><count>`: an out-of-band message, such as a pub/sub delivery.
    case push([RESPValue])
}

extension RESPValue {
    /// The text of a simple, bulk or verbatim string, decoded as UTF-8 (invalid bytes become U+FFFD).
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        case .verbatimString(_, let text): String(decoding: text, as: UTF8.self)
        default: nil
        }
    }

    /// The value of an integer reply; nil for every other type, including strings holding digits.
    public var int: Int64? {
        guard case .integer(let value) = self else {
            return nil
        }
        return value
    }

    /// The elements of an array, set or push reply.
    public var array: [RESPValue]? {
        switch self {
        case .array(let elements), .set(let elements), .push(let elements): elements
        default: nil
        }
    }

    /// The pairs of a map, or of an even-length array read as key, value, key, value (a RESP2 map).
    public var pairs: [RESPPair]? {
        switch self {
        case .map(let pairs):
            return pairs
        case .array(let elements) where elements.count % 2 == 0:
            return stride(from: 0, to: elements.count, by: 2).map {
                RESPPair(key: elements[$0], value: elements[$0 + 1])
            }
        default:
            return nil
        }
    }
}
