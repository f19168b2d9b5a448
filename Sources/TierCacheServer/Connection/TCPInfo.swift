import NIOCore

/// How many bytes the client's TCP stack acknowledged on a connection (Linux `tcpi_bytes_acked`): bytes the
/// client actually took, which keeps growing while it reads, however the kernel batches our writes. NIO's count
/// of unsent bytes moves only when the kernel's send buffer has room for another write, which with a slow reader
/// and a send buffer of megabytes can be seconds apart.
enum TCPInfo {
    /// Linux's `struct tcp_info` up to and including `tcpi_bytes_acked` (at byte 120, since Linux 4.1; the kernel
    /// only appends to the struct). Glibc's own copy of the struct stops before that field.
    private struct Raw: Sendable {
        var words: (
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
        ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// Bytes acknowledged so far; nil when the channel is not a TCP socket or the kernel does not say. Call on
    /// the channel's event loop (the answer is then immediate).
    static func bytesAcknowledged(_ channel: any Channel) -> UInt64? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        var acknowledged: UInt64?
        let info: EventLoopFuture<Raw> = provider.unsafeGetSocketOption(level: .tcp, name: .tcp_info)
        info.assumeIsolated().whenSuccess { raw in
            let value = raw.words.15  // bytes 120..<128
            acknowledged = value > 0 ? value : nil
        }
        return acknowledged
    }
}
