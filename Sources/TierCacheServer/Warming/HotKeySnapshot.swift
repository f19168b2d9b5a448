import Glibc
import TierCacheCache

/// The hot keys of every type, written to a file now and then and at shutdown, and read at start-up to warm L1
/// with what readers wanted before the restart.
///
/// Format (binary, because keys are): `TCHK` and a version byte 1; then per type: name length (u16 big-endian),
/// name, key count (u32), and per key its length (u32) and bytes. Written to a temporary file and renamed into
/// place, so a reader never sees half a file; an unreadable file is ignored with a warning, never trusted.
enum HotKeySnapshot {
    static let magic: [UInt8] = Array("TCHK".utf8) + [1]

    static func encode(_ types: [(name: String, keys: [[UInt8]])]) -> [UInt8] {
        var bytes = magic
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        for (name, keys) in types {
            let nameBytes = Array(name.utf8.prefix(Int(UInt16.max)))
            put(UInt16(nameBytes.count))
            bytes += nameBytes
            put(UInt32(keys.count))
            for key in keys {
                put(UInt32(key.count))
                bytes += key
            }
        }
        return bytes
    }

    enum DecodingError: Error, CustomStringConvertible {
        case notASnapshot, truncated

        var description: String {
            switch self {
            case .notASnapshot: "not a hot-key snapshot (wrong header)"
            case .truncated: "truncated"
            }
        }
    }

    static func decode(_ bytes: [UInt8]) throws(DecodingError) -> [(name: String, keys: [[UInt8]])] {
        guard bytes.starts(with: magic) else { throw .notASnapshot }
        var at = magic.count
        func take(_ count: Int) throws(DecodingError) -> ArraySlice<UInt8> {
            guard count >= 0, bytes.count - at >= count else { throw .truncated }
            defer { at += count }
            return bytes[at..<at + count]
        }
        func integer<T: FixedWidthInteger>(_: T.Type) throws(DecodingError) -> T {
            try take(MemoryLayout<T>.size).reduce(T(0)) { $0 << 8 | T($1) }
        }
        var types: [(name: String, keys: [[UInt8]])] = []
        while at < bytes.count {
            let name = String(decoding: try take(Int(try integer(UInt16.self))), as: UTF8.self)
            let count = Int(try integer(UInt32.self))
            var keys: [[UInt8]] = []
            for _ in 0..<count { keys.append(Array(try take(Int(try integer(UInt32.self))))) }
            types.append((name, keys))
        }
        return types
    }

    /// Writes `bytes` to `path` through a temporary file and a rename. Returns an error message, or nil.
    static func write(_ bytes: [UInt8], to path: String) -> String? {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return "cannot create \(temporary): \(String(cString: strerror(errno)))" }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { all in
                Glibc.write(descriptor, UnsafeRawBufferPointer(rebasing: all[written...]).baseAddress, all.count - written)
            }
            guard result > 0 else {
                let message = String(cString: strerror(errno))
                close(descriptor)
                unlink(temporary)
                return "cannot write \(temporary): \(message)"
            }
            written += result
        }
        fsync(descriptor)
        close(descriptor)
        guard rename(temporary, path) == 0 else { return "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))" }
        return nil
    }

    /// The file's bytes; nil if there is no file.
    static func read(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }
}
