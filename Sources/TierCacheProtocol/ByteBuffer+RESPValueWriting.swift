import NIOCore

extension ByteBuffer {
    /// Writes a whole ``RESPValue``, for replies built as values (tests, low-rate admin commands) rather than
    /// written piece by piece on the hot path.
    ///
    /// In RESP2, types RESP2 lacks are downgraded as Redis does: null as `$-1`, map as a flat array, set and push as
    /// arrays, double as a bulk string, boolean as an integer, big number and verbatim string as bulk strings, and
    /// blob errors are always simple errors.
    /// - Parameters:
    ///   - value: The value to write.
    ///   - version: The connection's protocol version.
    public mutating func writeRESPValue(_ value: RESPValue, _ version: RESPVersion) {
        switch value {
        case .simpleString(let text):
            self.writeRESPSimpleString(text)
        case .error(let message):
            self.writeRESPError(message)
        case .integer(let integer):
            self.writeRESPInteger(integer)
        case .bulkString(let bytes):
            self.writeRESPBulkString(bytes)
        case .null:
            self.writeRESPNull(version)
        case .array(let elements):
            self.writeRESPArrayHeader(count: elements.count)
            for element in elements {
                self.writeRESPValue(element, version)
            }
        case .map(let pairs):
            self.writeRESPMapHeader(count: pairs.count, version)
            for pair in pairs {
                self.writeRESPValue(pair.key, version)
                self.writeRESPValue(pair.value, version)
            }
        case .set(let elements):
            self.writeRESPSetHeader(count: elements.count, version)
            for element in elements {
                self.writeRESPValue(element, version)
            }
        case .push(let elements):
            self.writeRESPPushHeader(count: elements.count, version)
            for element in elements {
                self.writeRESPValue(element, version)
            }
        case .double(let double):
            self.writeRESPDouble(double, version)
        case .boolean(let boolean):
            self.writeRESPBoolean(boolean, version)
        case .bigNumber(let digits):
            switch version {
            case .v2:
                self.writeRESPBulkString(digits)
            case .v3:
                self.writeInteger(UInt8(ascii: "("))
                self.writeRESPLine(digits)
            }
        case .verbatimString(let format, let text):
            switch version {
            case .v2:
                self.writeRESPBulkString(text)
            case .v3:
                self.writeInteger(UInt8(ascii: "="))
                self.writeRESPDecimal(Int64(format.utf8.count + 1 + text.count))
                self.writeRESPCRLF()
                self.writeString(format)
                self.writeInteger(UInt8(ascii: ":"))
                self.writeBytes(text)
                self.writeRESPCRLF()
            }
        }
    }
}
