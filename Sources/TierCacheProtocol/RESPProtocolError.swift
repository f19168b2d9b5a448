import TierCacheSupport

/// A peer broke the RESP protocol; the server replies `-ERR <message>` and closes the connection.
///
/// Messages follow Redis' wording where Redis has one, so clients and operators see familiar text, and name the
/// limit that was hit where ours differ from Redis'. ``code`` lets code and tests match the kind of error without
/// comparing text.
public struct RESPProtocolError: CodedError, Hashable {
    /// The kind of protocol error, stable across message wording changes.
    public enum Code: String, ErrorCode {
        /// A `*` count that is not a decimal integer.
        case invalidMultibulkLength
        /// A `$` length that is not a non-negative decimal integer.
        case invalidBulkLength
        /// A byte other than the one the protocol requires here, such as an argument not starting with `$`.
        case unexpectedByte
        /// A `*` or `$` header line with no `\r\n` within the header length limit.
        case headerTooLong
        /// An inline command line longer than ``RESPLimits/maxInlineLength``.
        case inlineTooLong
        /// A bulk string longer than ``RESPLimits/maxBulkLength``.
        case bulkTooLong
        /// An array with more elements than ``RESPLimits/maxArrayCount``.
        case multibulkTooLong
        /// An inline line with an unterminated quote, or a closing quote followed by something other than a space.
        case unbalancedQuotes
        /// A bulk string or line not followed by `\r\n`.
        case missingTerminator
        /// A reply line longer than ``RESPLimits/maxInlineLength``.
        case lineTooLong
        /// A reply that is not valid RESP2 or RESP3.
        case invalidReply
        /// A reply nested deeper than the value parser's `maxDepth`.
        case depthExceeded
    }

    /// The kind of error.
    public var code: Code
    /// The text sent to the client after `-ERR `; always a single line.
    public var message: String

    /// Creates an error with an explicit code and message.
    ///
    /// - Parameters:
    ///   - code: The kind of error.
    ///   - message: The text for the client, without the `ERR ` prefix.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
}

extension RESPProtocolError {
    /// A `*` count that is not a decimal integer (Redis' wording).
    public static let invalidMultibulkLength = RESPProtocolError(
        code: .invalidMultibulkLength,
        message: "Protocol error: invalid multibulk length"
    )

    /// A `$` length that is negative or not a decimal integer (Redis' wording).
    public static let invalidBulkLength = RESPProtocolError(
        code: .invalidBulkLength,
        message: "Protocol error: invalid bulk length"
    )

    /// A `*` header with no `\r\n` within the header length limit (Redis' wording).
    public static let multibulkHeaderTooLong = RESPProtocolError(
        code: .headerTooLong,
        message: "Protocol error: too big mbulk count string"
    )

    /// A `$` header with no `\r\n` within the header length limit (Redis' wording).
    public static let bulkHeaderTooLong = RESPProtocolError(
        code: .headerTooLong,
        message: "Protocol error: too big bulk count string"
    )

    /// An inline line with unbalanced quotes (Redis' wording).
    public static let unbalancedQuotes = RESPProtocolError(
        code: .unbalancedQuotes,
        message: "Protocol error: unbalanced quotes in request"
    )

    /// A bulk string whose payload is not followed by `\r\n`; Redis skips two bytes unchecked, we refuse.
    public static let missingBulkTerminator = RESPProtocolError(
        code: .missingTerminator,
        message: "Protocol error: bulk string not terminated by CRLF"
    )

    /// A byte other than `expected` where the protocol requires it, e.g. an argument not starting with `$`.
    ///
    /// Printable bytes are shown as themselves like Redis' `%c`; others as `\xHH`, so the message stays one line.
    /// - Parameters:
    ///   - expected: The byte the protocol requires.
    ///   - actual: The byte received.
    public static func unexpectedByte(expected: UInt8, got actual: UInt8) -> RESPProtocolError {
        RESPProtocolError(
            code: .unexpectedByte,
            message: "Protocol error: expected '\(Self.render(expected))', got '\(Self.render(actual))'"
        )
    }

    /// An inline line longer than the limit, complete or still waiting for its newline.
    ///
    /// - Parameter limit: The ``RESPLimits/maxInlineLength`` in force.
    public static func inlineTooLong(limit: Int) -> RESPProtocolError {
        RESPProtocolError(
            code: .inlineTooLong,
            message: "Protocol error: too big inline request (limit \(limit) bytes)"
        )
    }

    /// A bulk length over the limit, refused before the payload is buffered.
    ///
    /// - Parameters:
    ///   - length: The announced length.
    ///   - limit: The ``RESPLimits/maxBulkLength`` in force.
    public static func bulkTooLong(length: Int, limit: Int) -> RESPProtocolError {
        RESPProtocolError(
            code: .bulkTooLong,
            message: "Protocol error: bulk length \(length) exceeds limit \(limit) bytes"
        )
    }

    /// An array count over the limit, refused before any element is buffered.
    ///
    /// - Parameters:
    ///   - count: The announced count.
    ///   - limit: The ``RESPLimits/maxArrayCount`` in force.
    public static func multibulkTooLong(count: Int, limit: Int) -> RESPProtocolError {
        RESPProtocolError(
            code: .multibulkTooLong,
            message: "Protocol error: multibulk length \(count) exceeds limit \(limit)"
        )
    }

    /// A reply line (simple string, error, number) with no `\r\n` within the limit.
    ///
    /// - Parameter limit: The ``RESPLimits/maxInlineLength`` in force.
    public static func lineTooLong(limit: Int) -> RESPProtocolError {
        RESPProtocolError(
            code: .lineTooLong,
            message: "Protocol error: reply line exceeds limit \(limit) bytes"
        )
    }

    /// A reply that is not valid RESP.
    ///
    /// - Parameter reason: What was wrong, for the message.
    public static func invalidReply(_ reason: String) -> RESPProtocolError {
        RESPProtocolError(code: .invalidReply, message: "Protocol error: invalid reply: \(reason)")
    }

    /// A reply nested deeper than the parser allows; the limit keeps recursion off the end of the stack.
    ///
    /// - Parameter limit: The value parser's `maxDepth`.
    public static func depthExceeded(limit: Int) -> RESPProtocolError {
        RESPProtocolError(
            code: .depthExceeded,
            message: "Protocol error: reply nested deeper than \(limit) levels"
        )
    }

    /// Renders one byte for a message: printable ASCII as itself, anything else as `\xHH`.
    static func render(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F {
            return String(UnicodeScalar(byte))
        }
        let digits = Array("0123456789abcdef".utf8)
        return "\\x" + String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
    }
}
