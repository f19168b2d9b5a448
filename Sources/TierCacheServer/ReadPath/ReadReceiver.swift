import TierCacheProtocol

/// Who waits for a client's read without a closure: the connection, told which reply slot the answer fills. One
/// allocation less per read past L1 than a completion closure (the L2-hit path's cost, `bench/l2_get.py`).
protocol ReadReceiver: AnyObject {
    func readAnswered(_ result: Result<LoadedReply, any Error>, slot: ReadSlot)
}

/// Where a read's answer goes in its connection's reply order.
struct ReadSlot {
    /// The reply reserved for it.
    var id: UInt64
    var command: CommandKind
    /// When the command started, for its latency.
    var started: UInt64
    var version: RESPVersion
}
