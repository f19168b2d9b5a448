import NIOCore

/// The Redis key names of one deployment, all under its prefix (default `tiercache:`):
///
///     <prefix>k:<client key>     a keyed entry (GET items:42 → tiercache:k:items:42)
///     <prefix>q:<hex digest>     a QUERY result, by the SHA-256 of its statement and parameters
///     <prefix>t:<client key>     a keyed write's tombstone: its write number, refusing older loads' fills
///     <prefix>seq                the shared write counter
///     <prefix>writes             hash: the number of the last write affecting `type:<name>`, `table:<name>`, `all`
///     <prefix>invalidations      the pub/sub channel every sidecar listens on
struct L2Namespace: Sendable {
    let prefix: [UInt8]

    init(prefix: String) { self.prefix = Array(prefix.utf8) }

    var sequenceKey: [UInt8] { prefix + Array("seq".utf8) }
    var writesKey: [UInt8] { prefix + Array("writes".utf8) }
    var channel: [UInt8] { prefix + Array("invalidations".utf8) }

    func entryKey(_ key: ByteBuffer) -> [UInt8] { named("k:", key.readableBytesView) }
    func tombstoneKey(_ key: ByteBuffer) -> [UInt8] { named("t:", key.readableBytesView) }

    /// A QUERY's key from its L1 key (0x00 + 32-byte digest): the digest in hex, so the key is printable.
    func queryKey(_ l1Key: ByteBuffer) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var name = prefix + Array("q:".utf8)
        for byte in l1Key.readableBytesView.dropFirst() {
            name.append(digits[Int(byte >> 4)])
            name.append(digits[Int(byte & 0x0F)])
        }
        return name
    }

    private func named(_ kind: StaticString, _ key: ByteBufferView) -> [UInt8] {
        var name = prefix
        name.reserveCapacity(prefix.count + 2 + key.count)
        kind.withUTF8Buffer { name.append(contentsOf: $0) }
        name.append(contentsOf: key)
        return name
    }
}

/// Fields of `<prefix>writes`.
enum L2WriteField {
    static let all = "all"
    static func type(_ name: String) -> String { "type:" + name }
    static func table(_ name: String) -> String { "table:" + name }
}
