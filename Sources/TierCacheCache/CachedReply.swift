import NIOCore

/// A value as the client will receive it: the reply already encoded, once per protocol version.
///
/// Storing encoded replies makes an L1 hit a single copy into the connection's output buffer. Most replies
/// (bulk strings, integers, arrays of them) encode the same in RESP2 and RESP3; only maps and nulls differ,
/// so the RESP3 form is kept only when it differs.
public struct CachedReply: Sendable, Hashable {
    public var resp2: ByteBuffer
    public var resp3: ByteBuffer?

    public init(resp2: ByteBuffer, resp3: ByteBuffer? = nil) {
        self.resp2 = resp2
        self.resp3 = (resp3 == resp2) ? nil : resp3
    }
}
