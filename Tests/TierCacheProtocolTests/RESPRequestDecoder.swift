import NIOCore
import TierCacheProtocol

/// A test-only `ByteToMessageDecoder` around ``RESPRequestParser``, so `ByteToMessageDecoderVerifier` can drive the
/// parser through NIO's own buffering (drip feeding, whole, many at once).
struct RESPRequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = [ByteBuffer]

    var parser = RESPRequestParser()
    var arguments: [ByteBuffer] = []

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard try self.parser.parseCommand(from: &buffer, into: &self.arguments) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(self.arguments))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }
}
