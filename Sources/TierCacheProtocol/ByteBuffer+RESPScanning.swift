import NIOCore

/// Byte-level helpers shared by the parsers, working on absolute indices inside the readable bytes.
extension ByteBuffer {
    /// Finds the first `byte` in `start..<end`, scanning through a raw pointer so a long line costs one fast pass.
    ///
    /// - Parameters:
    ///   - byte: The byte to look for.
    ///   - start: First absolute index to look at; must not be below `readerIndex`.
    ///   - end: Absolute index to stop before; must not be above `writerIndex`.
    /// - Returns: The absolute index of the byte, or nil if it is not there (or the range is not readable).
    func firstIndex(of byte: UInt8, from start: Int, to end: Int) -> Int? {
        let readerIndex = self.readerIndex
        let lower = start - readerIndex
        let upper = end - readerIndex
        guard lower >= 0, lower < upper, upper <= self.readableBytes else {
            return nil
        }
        return self.withUnsafeReadableBytes { bytes in
            bytes[lower..<upper].firstIndex(of: byte).map { $0 + readerIndex }
        }
    }

    /// Parses `start..<end` as a decimal integer with Redis' `string2ll` rules, straight from the bytes.
    ///
    /// An optional `-`, then digits without leading zeros (`0` alone is fine, `-0` is not); no `+`, no spaces, no
    /// overflow. Following Redis exactly means we refuse the same headers Redis refuses.
    /// - Parameters:
    ///   - start: Absolute index of the first byte.
    ///   - end: Absolute index after the last byte.
    /// - Returns: The value, or nil if the bytes are not such an integer.
    func getRedisInteger(from start: Int, to end: Int) -> Int? {
        let lower = start - self.readerIndex
        let upper = end - self.readerIndex
        guard lower >= 0, lower < upper, upper <= self.readableBytes else {
            return nil
        }
        return self.withUnsafeReadableBytes { bytes -> Int? in
            var index = lower
            let negative = bytes[index] == UInt8(ascii: "-")
            if negative {
                index += 1
            }
            guard index < upper else {
                return nil
            }
            if bytes[index] == UInt8(ascii: "0") {
                return !negative && index + 1 == upper ? 0 : nil
            }
            var magnitude: UInt = 0
            while index < upper {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else {
                    return nil
                }
                let (shifted, shiftOverflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, sumOverflow) = shifted.addingReportingOverflow(UInt(digit))
                guard !shiftOverflow, !sumOverflow else {
                    return nil
                }
                magnitude = sum
                index += 1
            }
            if negative {
                return magnitude <= Int.min.magnitude ? Int(truncatingIfNeeded: 0 &- magnitude) : nil
            }
            return magnitude <= UInt(Int.max) ? Int(magnitude) : nil
        }
    }
}
