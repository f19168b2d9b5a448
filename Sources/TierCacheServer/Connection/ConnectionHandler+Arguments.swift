import NIOCore

/// A command's arguments as the commands read them: as text, as a printable excerpt, compared with a word.
extension ConnectionHandler {
    /// An argument for an error message: at most 64 bytes, non-printable bytes escaped.
    func printable(_ buffer: ByteBuffer) -> String {
        TierCacheServer.printable(buffer.readableBytesView)
    }

    /// An argument as text (SQL, subcommands), or nil when it is not UTF-8.
    func text(_ buffer: ByteBuffer) -> String? {
        String(validating: buffer.readableBytesView, as: UTF8.self)
    }

    /// Whether an argument equals an ASCII word, ignoring case.
    func argument(_ index: Int, is word: StaticString) -> Bool {
        guard index < arguments.count else { return false }
        let argument = arguments[index]
        guard argument.readableBytes == word.utf8CodeUnitCount else { return false }
        return argument.withUnsafeReadableBytes { bytes in
            word.withUTF8Buffer { expected in
                zip(bytes, expected).allSatisfy { lowercase($0) == lowercase($1) }
            }
        }
    }
}

@inline(__always)
private func lowercase(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}
