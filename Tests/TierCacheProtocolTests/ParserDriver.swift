import NIOCore
import Testing
import TierCacheProtocol

/// Drives a ``RESPRequestParser`` the way a channel handler does: appends bytes, decodes every complete command,
/// and checks the reader-index contract on each call.
struct ParserDriver {
    var parser: RESPRequestParser
    var buffer = ByteBuffer()
    var arguments: [ByteBuffer] = []
    /// Every command decoded so far, including those decoded before a call threw.
    private(set) var decoded: [[[UInt8]]] = []

    init(limits: RESPLimits = .default) {
        self.parser = RESPRequestParser(limits: limits)
    }

    /// Appends `bytes` and returns the commands that are now complete, each as its arguments' bytes.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws(RESPProtocolError) -> [[[UInt8]]] {
        self.buffer.writeBytes(bytes)
        return try self.drain()
    }

    /// Appends the UTF-8 bytes of `string` and returns the commands that are now complete.
    mutating func feed(_ string: String) throws(RESPProtocolError) -> [[[UInt8]]] {
        try self.feed(Array(string.utf8))
    }

    /// Decodes commands from what is buffered until the parser asks for more bytes.
    mutating func drain() throws(RESPProtocolError) -> [[[UInt8]]] {
        var commands: [[[UInt8]]] = []
        while true {
            let before = self.buffer.readerIndex
            guard try self.parser.parseCommand(from: &self.buffer, into: &self.arguments) else {
                #expect(self.arguments.count == 0, "a partial parse must not leave slices behind")
                // Skipped empty commands may be consumed; anything else must stay.
                #expect(self.buffer.readerIndex >= before)
                return commands
            }
            #expect(self.buffer.readerIndex > before, "a command must consume bytes")
            #expect(self.arguments.count > 0)
            let command = self.arguments.map { Array($0.readableBytesView) }
            commands.append(command)
            self.decoded.append(command)
        }
    }
}

/// The bytes of each argument of each command, from strings, for comparisons.
func commands(_ commands: [[String]]) -> [[[UInt8]]] {
    commands.map { $0.map { Array($0.utf8) } }
}

/// Encodes a command as a multibulk request, the way clients send it.
func multibulk(_ arguments: [[UInt8]]) -> [UInt8] {
    var bytes = Array("*\(arguments.count)\r\n".utf8)
    for argument in arguments {
        bytes += Array("$\(argument.count)\r\n".utf8) + argument + Array("\r\n".utf8)
    }
    return bytes
}

/// Encodes a command of strings as a multibulk request.
func multibulk(_ arguments: String...) -> [UInt8] {
    multibulk(arguments.map { Array($0.utf8) })
}
