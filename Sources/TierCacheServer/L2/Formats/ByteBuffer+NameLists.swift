import NIOCore

/// Lists of short names (types, tables) in the binary formats shared through Redis: a u16 count, then each name
/// as a u16 length and its UTF-8 bytes. Names come from policy files and SQL: far below 64 KiB each.
extension ByteBuffer {
    mutating func writeNameList(_ names: [String]) {
        let names = names.prefix(Int(UInt16.max))
        writeInteger(UInt16(names.count))
        for name in names {
            let bytes = name.utf8.prefix(Int(UInt16.max))
            writeInteger(UInt16(bytes.count))
            writeBytes(bytes)
        }
    }

    /// Nil when the list is cut short.
    mutating func readNameList() -> [String]? {
        guard let count = readInteger(as: UInt16.self) else { return nil }
        var names: [String] = []
        names.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = readInteger(as: UInt16.self), let name = readString(length: Int(length)) else {
                return nil
            }
            names.append(name)
        }
        return names
    }
}
