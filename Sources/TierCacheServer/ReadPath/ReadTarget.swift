import NIOCore
import TierCacheRedis
import TierCacheStats

/// What a read is of, as its `ReadTask` needs it: a key (`ReadPath.KeyRead`) or a QUERY result
/// (`ReadPath.QueryRead`). The task is generic over it, so the keyed read's hit path works on its fields in place
/// (an enum of both, or optionals, copied every reference in the read at each look).
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

extension ReadPath.KeyRead: ReadTarget {
    static var usesConnection: Bool { true }

    func requestEntry(_ l2: L2Tier, on connection: L2Connection, completion: @escaping L2Connection.RawCompletion) {
        l2.requestEntry(key, on: connection, completion: completion)
    }

    func entry(from reply: Result<L2Connection.Reply, RedisError>, in l2: L2Tier) -> L2Tier.Lookup {
        l2.entry(from: reply, key: key)
    }

    func lookUp(in l2: L2Tier, on eventLoop: any EventLoop) -> EventLoopFuture<L2Tier.Lookup> {
        l2.get(l2.namespace.entryKey(key), on: eventLoop)
    }

    func l2Replied(
        _ lookup: consuming L2Tier.Lookup, path: ReadPath, stamp: UInt64, machine: inout ReadMachine
    ) -> ReadMachine.Action {
        path.l2Replied(lookup, read: self, stamp: stamp, machine: &machine)
    }

    func load(path: ReadPath, plan: ReadMachine.Plan, on eventLoop: any EventLoop) -> EventLoopFuture<LoadedReply> {
        path.load(self, plan: plan, on: eventLoop)
    }

    func staleEntry(path: ReadPath, maxAge: UInt64) -> LoadedReply? { path.staleEntry(self, maxAge: maxAge) }

    func countL1Miss(path: ReadPath) { path.countL1Miss(self) }

    func countStaleHit() { type.counters.staleHits.increment() }
}

extension ReadPath.QueryRead: ReadTarget {
    /// QUERY results go through `L2Tier.get` (their Redis key is the digest's hex): the two methods below are never
    /// called, and answer as an L2 failure (the read then goes to the database) if they were.
    static var usesConnection: Bool { false }

    func requestEntry(_ l2: L2Tier, on connection: L2Connection, completion: @escaping L2Connection.RawCompletion) {
        completion(.failure(RedisError(.protocolError, "QUERY results are not read on the loop's connection")))
    }

    func entry(from reply: Result<L2Connection.Reply, RedisError>, in l2: L2Tier) -> L2Tier.Lookup { .miss }

    func lookUp(in l2: L2Tier, on eventLoop: any EventLoop) -> EventLoopFuture<L2Tier.Lookup> {
        l2.get(l2.namespace.queryKey(key), on: eventLoop)
    }

    func l2Replied(
        _ lookup: consuming L2Tier.Lookup, path: ReadPath, stamp: UInt64, machine: inout ReadMachine
    ) -> ReadMachine.Action {
        path.l2Replied(lookup, query: self, stamp: stamp, machine: &machine)
    }

    func load(path: ReadPath, plan: ReadMachine.Plan, on eventLoop: any EventLoop) -> EventLoopFuture<LoadedReply> {
        path.load(self, consultedL2: plan.consultsL2, on: eventLoop)
    }

    /// QUERY results have no stale fallback.
    func staleEntry(path: ReadPath, maxAge: UInt64) -> LoadedReply? { nil }

    /// Counted with the load, once the owning type is known.
    func countL1Miss(path: ReadPath) {}

    func countStaleHit() {}
}
