import NIOCore
import Testing
import TestSupport
import TierCacheProtocol

@Suite("RESPRequestParser: seeded randomized input")
struct RESPRequestParserFuzzTests {
    /// What a run over some input ended with, after the commands it decoded.
    enum Ending: Equatable {
        case needsMore(leftover: [UInt8])
        case failed(RESPProtocolError)
    }

    /// Small limits, so random input reaches every limit check.
    static let limits = RESPLimits(maxInlineLength: 24, maxBulkLength: 24, maxArrayCount: 6)

    /// Parses `input` fed whole.
    static func runWhole(_ input: [UInt8]) -> (commands: [[[UInt8]]], ending: Ending) {
        var driver = ParserDriver(limits: Self.limits)
        do {
            _ = try driver.feed(input)
        } catch {
            return (driver.decoded, .failed(error))
        }
        return (driver.decoded, .needsMore(leftover: Array(driver.buffer.readableBytesView)))
    }

    /// Parses `input` fed in random chunks, compacting the buffer at random between calls.
    static func runChunked(
        _ input: [UInt8],
        using generator: inout SplitMix64
    ) -> (commands: [[[UInt8]]], ending: Ending) {
        var driver = ParserDriver(limits: Self.limits)
        var position = 0
        while position < input.count {
            let end = min(input.count, position + Int.random(in: 1...8, using: &generator))
            do {
                _ = try driver.feed(input[position..<end])
            } catch {
                return (driver.decoded, .failed(error))
            }
            position = end
            if Bool.random(using: &generator) {
                driver.buffer.discardReadBytes()
            }
        }
        return (driver.decoded, .needsMore(leftover: Array(driver.buffer.readableBytesView)))
    }

    /// Fragments that make random input look like RESP often enough to reach deep states.
    static let fragments: [[UInt8]] =
        [
            "*", "$", "\r", "\n", "\r\n", "0", "1", "2", "3", "9", "-", "-1", " ", "\t", "\"", "'", "\\", "\\x", "4f",
            "a", "GET", "*1\r\n", "*2\r\n", "$3\r\n", "$0\r\n", "*0\r\n", "\r\n\r\n", "99999999",
        ].map { Array($0.utf8) } + [[0x00], [0xFF]]

    static func randomInput(using generator: inout SplitMix64) -> [UInt8] {
        var input: [UInt8] = []
        let tokens = Int.random(in: 0...40, using: &generator)
        for _ in 0..<tokens {
            if Int.random(in: 0..<8, using: &generator) == 0 {
                input.append(UInt8.random(in: 0...255, using: &generator))
            } else {
                input += Self.fragments[Int.random(in: 0..<Self.fragments.count, using: &generator)]
            }
        }
        return input
    }

    @Test("random RESP-like bytes never crash, and chunked feeding agrees with whole feeding", arguments: [1, 2, 3])
    func randomBytesAgree(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        var failures = 0
        for iteration in 0..<3000 {
            let input = Self.randomInput(using: &generator)
            let whole = Self.runWhole(input)
            let chunked = Self.runChunked(input, using: &generator)
            #expect(whole.commands == chunked.commands, "seed \(seed) iteration \(iteration): \(input)")
            #expect(whole.ending == chunked.ending, "seed \(seed) iteration \(iteration): \(input)")
            if case .failed = whole.ending {
                failures += 1
            }
        }
        // The generator must exercise both paths, or this test proves little.
        #expect(failures > 100 && failures < 2900)
    }

    @Test("uniformly random bytes never crash the parser")
    func uniformBytes() {
        var generator = SplitMix64(seed: 0xC0FFEE)
        for iteration in 0..<3000 {
            let count = Int.random(in: 0...64, using: &generator)
            let input = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let whole = Self.runWhole(input)
            let chunked = Self.runChunked(input, using: &generator)
            #expect(whole.commands == chunked.commands, "iteration \(iteration): \(input)")
            #expect(whole.ending == chunked.ending, "iteration \(iteration): \(input)")
        }
    }

    /// Encodes one argument for an inline line: plain, single-quoted or double-quoted with escapes.
    static func inlineWord(_ argument: [UInt8], first: Bool, using generator: inout SplitMix64) -> [UInt8] {
        let plain =
            !argument.isEmpty && !(first && argument[0] == UInt8(ascii: "*"))
            && argument.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "'") }
        if plain && Bool.random(using: &generator) {
            return argument
        }
        let singleQuotable = argument.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }
        if singleQuotable && Bool.random(using: &generator) {
            var word: [UInt8] = [UInt8(ascii: "'")]
            for byte in argument {
                word += byte == UInt8(ascii: "'") ? Array("\\'".utf8) : [byte]
            }
            return word + [UInt8(ascii: "'")]
        }
        let hexDigits = Array((Bool.random(using: &generator) ? "0123456789abcdef" : "0123456789ABCDEF").utf8)
        var word: [UInt8] = [UInt8(ascii: "\"")]
        for byte in argument {
            switch byte {
            case UInt8(ascii: "\""): word += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): word += Array("\\\\".utf8)
            case 0x0A: word += Array("\\n".utf8)
            case 0x20..<0x7F: word.append(byte)
            default: word += Array("\\x".utf8) + [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            }
        }
        return word + [UInt8(ascii: "\"")]
    }

    @Test("random commands, encoded as multibulk or inline and fed in random chunks, decode to themselves")
    func roundTrip() throws {
        var generator = SplitMix64(seed: 42)
        for iteration in 0..<500 {
            var input: [UInt8] = []
            var expected: [[[UInt8]]] = []
            for _ in 0..<Int.random(in: 1...10, using: &generator) {
                let command = (0..<Int.random(in: 1...5, using: &generator)).map { _ in
                    let printable = Bool.random(using: &generator)
                    let range: ClosedRange<UInt8> = printable ? 0x20...0x7E : 0...255
                    return (0..<Int.random(in: 0...12, using: &generator)).map { _ in
                        UInt8.random(in: range, using: &generator)
                    }
                }
                expected.append(command)
                if Bool.random(using: &generator) {
                    input += multibulk(command)
                } else {
                    let words = command.enumerated().map { index, argument in
                        Self.inlineWord(argument, first: index == 0, using: &generator)
                    }
                    input += Array(words.joined(separator: [UInt8(ascii: " ")]))
                    input += Bool.random(using: &generator) ? Array("\r\n".utf8) : [0x0A]
                }
            }
            var driver = ParserDriver()
            var decoded: [[[UInt8]]] = []
            var position = 0
            while position < input.count {
                let end = min(input.count, position + Int.random(in: 1...64, using: &generator))
                decoded += try driver.feed(input[position..<end])
                position = end
                if Int.random(in: 0..<4, using: &generator) == 0 {
                    driver.buffer.discardReadBytes()
                }
            }
            #expect(decoded == expected, "iteration \(iteration)")
            #expect(driver.buffer.readableBytes == 0)
        }
    }
}
