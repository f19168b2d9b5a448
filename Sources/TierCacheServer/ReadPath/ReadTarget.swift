import NIOCore
import TierCacheRedis
import TierCacheStats

/// What a read is of, as its `ReadTask` needs it: a key (`ReadPath.KeyRead`, which conforms in `ReadPath.swift`)
/// or a QUERY result (`ReadPath.QueryRead`, in `ReadPath+Query.swift`). The task is generic over it, so the keyed
/// read's hit path works on its fields in place (an enum of both, or optionals, copied every reference in the read
/// at each look).
protocol ReadTarget: Sendable {
    /// Whether its L2 GET may go out on the event loop's own Redis connection (keyed reads).
    static var usesConnection: Bool { get }
    /// Sends its L2 GET on `connection` (only when `usesConnection`); the raw reply goes to `completion`.
    func requestEntry(_ l2: L2Tier, on connection: L2Connection, completion: @escaping L2Connection.RawCompletion)
    /// The raw reply of ``requestEntry(_:on:completion:)`` as a look-up.
    func entry(from reply: Result<L2Connection.Reply, RedisError>, in l2: L2Tier) -> L2Tier.Lookup
    /// Looks the read's L2 entry up through the tier (any loop).
    func lookUp(in l2: L2Tier, on eventLoop: any EventLoop) -> EventLoopFuture<L2Tier.Lookup>
    /// Feeds the L2 look-up to `machine`; fills L1 as it says.
    func l2Replied(
        _ lookup: consuming L2Tier.Lookup, path: ReadPath, stamp: UInt64, machine: inout ReadMachine
    ) -> ReadMachine.Action
    /// The coalesced backend load.
    func load(path: ReadPath, plan: ReadMachine.Plan, on eventLoop: any EventLoop) -> EventLoopFuture<LoadedReply>
    /// L1's entry if it is at most `maxAge` past its expiry and no write made it wrong (keyed reads only).
    func staleEntry(path: ReadPath, maxAge: UInt64) -> LoadedReply?
    /// Counts the L1 miss, once the read goes past L1.
    func countL1Miss(path: ReadPath)
    /// Counts an answer from a stale entry.
    func countStaleHit()
}
