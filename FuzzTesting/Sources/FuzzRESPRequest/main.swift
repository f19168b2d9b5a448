import NIOCore
import TierCacheProtocol

/// A client's bytes, as the connection meets them: in pieces (split where the first byte says, so resumption
/// after partial input is exercised), decoded command after command until the parser wants more or refuses.
/// Small limits, so the limit paths are reached too. A crash, a hang or an address error is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var parser = RESPRequestParser(limits: RESPLimits(maxInlineLength: 256, maxBulkLength: 1024, maxArrayCount: 64))
    var buffer = ByteBuffer()
    var arguments: [ByteBuffer] = []
    for piece in [bytes[..<split], bytes[split...]] {
        buffer.writeBytes(piece)
        do {
            while try parser.parseCommand(from: &buffer, into: &arguments) {
                // What the server reads of a command: the name and each argument's bytes.
                for argument in arguments { _ = argument.readableBytesView.reduce(0, &+) }
            }
        } catch {
            return 0  // refused: the connection would be closed with the error
        }
        buffer.discardReadBytes()
    }
    return 0
}
