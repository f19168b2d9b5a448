import NIOCore
import TierCacheProtocol

/// What a broken or hostile Redis could send back to the L2 connections: replies decoded one after another, both
/// as values and with top-level bulk strings as slices, in two pieces, with small limits and a shallow depth.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    for slices in [false, true] {
        var parser = RESPValueParser(
            maxDepth: 8, limits: RESPLimits(maxInlineLength: 256, maxBulkLength: 1024, maxArrayCount: 64))
        var buffer = ByteBuffer()
        pieces: for piece in [bytes[..<split], bytes[split...]] {
            buffer.writeBytes(piece)
            do {
                while true {
                    if slices {
                        guard try parser.nextReply(from: &buffer) != nil else { break }
                    } else {
                        guard let value = try parser.next(from: &buffer) else { break }
                        _ = "\(value)".count
                    }
                }
            } catch {
                break pieces  // the connection would be replaced
            }
        }
    }
    return 0
}
