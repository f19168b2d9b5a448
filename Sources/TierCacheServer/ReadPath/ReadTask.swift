import NIOCore
import TierCacheCache
import TierCacheProtocol
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// One read past L1 on its event loop: performs its `ReadMachine`'s actions until the machine is done, and
/// answers once. The only place a read's actions are carried out; `Read` says what is read (`ReadTarget`).
///
/// Loop-confined: made, driven and finished on `eventLoop` (replies from Redis, the load's completion and the soft
/// timeout all arrive there).
final class ReadTask<Read: ReadTarget> {
    private let path: ReadPath
    private let read: Read
    private var machine: ReadMachine
    /// The write number when the read began: fills from it are refused if a write came after.
    private let stamp: UInt64
    private let eventLoop: any EventLoop
    private var completion = Completion.none
    private var softTimer: Scheduled<Void>?
    /// The L1 miss is counted once, when the read first goes past L1.
    private var missCounted: Bool
    /// Who asked, for the slow log; nil for the proxy's own reads (warming, refreshes).
    private var client: ClientRecord?

    init(
        path: ReadPath,
        read: consuming Read,
        machine: consuming ReadMachine,
        stamp: UInt64,
        eventLoop: any EventLoop,
        missCounted: Bool = false,
        client: ClientRecord? = nil
    ) {
        self.client = client
        self.path = path
        self.read = read
        self.machine = machine
        self.stamp = stamp
        self.eventLoop = eventLoop
        self.missCounted = missCounted
    }

    /// Who hears the answer, once.
    private enum Completion {
        case none
        case receiver(any ReadReceiver, ReadSlot)
        case closure((Result<LoadedReply, any Error>) -> Void)
    }

    /// Carries the read to its end from `first`, the machine's answer to the L1 miss; `completion` gets the reply
    /// on the event loop.
    func run(_ first: consuming ReadMachine.Action, completion: @escaping (Result<LoadedReply, any Error>) -> Void) {
        self.completion = .closure(completion)
        perform(first)
    }

    /// Carries a client's read to its end from `first`; `receiver` gets the reply for `slot` on the event loop.
    /// `connection`: the event loop's Redis connection, when the caller has it (the L2 GET then goes out without a
    /// hop).
    func run(
        _ first: consuming ReadMachine.Action, connection: L2Connection?, answering receiver: any ReadReceiver,
        slot: ReadSlot
    ) {
        self.completion = .receiver(receiver, slot)
        if client == nil { client = receiver.record }
        perform(first, connection: connection)
    }

    /// Performs `action` and what follows from it synchronously; returns when the read waits for L2 or the
    /// backend, or is done. `connection`: as for `run`.
    func perform(_ first: consuming ReadMachine.Action, connection: L2Connection? = nil) {
        // Consumed, not copied: an action's payload (a reply, an error) moves on to the answer.
        var action = first
        while true {
            switch consume action {
            case .none, .revalidateInBackground:
                // (Revalidation is `ReadPath.start`'s.)
                return
            case .serveExpired:
                action = machine.revalidation(served: false)
            case .sendL2Get:
                countMiss()
                sendL2Get(connection: connection)
                return
            case .runLoad(let softTimeout):
                countMiss()
                runLoad(softTimeout: softTimeout)
                return
            case .lookUpStale(let maxAge):
                action = machine.staleLookedUp(read.staleEntry(path: path, maxAge: maxAge))
            case .reply(let reply):
                answer(.success(reply))
                return
            case .replyStale(let reply):
                read.countStaleHit()
                answer(.success(reply))
                return
            case .fail(let error):
                answer(.failure(error))
                return
            }
        }
    }

    private func answer(_ result: Result<LoadedReply, any Error>) {
        if machine.isDone {
            softTimer?.cancel()
            softTimer = nil
        }
        // Moved out (answered once), not copied.
        var completion = Completion.none
        swap(&completion, &self.completion)
        switch consume completion {
        case .none: break
        case .receiver(let receiver, let slot): receiver.readAnswered(result, slot: slot)
        case .closure(let closure): closure(result)
        }
    }

    private func countMiss() {
        guard !missCounted else { return }
        missCounted = true
        read.countL1Miss(path: path)
    }

    // MARK: L2

    private func sendL2Get(connection: L2Connection?) {
        guard let l2 = path.l2 else {
            perform(replied(.miss))
            return
        }
        if Read.usesConnection {
            // On this loop's own Redis connection: the reply comes back here with no hop and no future.
            // (Two bindings, not `??`: the caller's connection is borrowed, not retained.)
            if let connection {
                requestEntry(l2, on: connection)
                return
            }
            if let connection = l2.localConnection() {
                requestEntry(l2, on: connection)
                return
            }
        }
        whenL2Answers(read.lookUp(in: l2, on: eventLoop))
    }

    private func requestEntry(_ l2: L2Tier, on connection: L2Connection) {
        // The closure holds the task alone: it needs no allocation of its own.
        read.requestEntry(l2, on: connection) { [self] result in perform(replied(result)) }
    }

    private func whenL2Answers(_ lookup: EventLoopFuture<L2Tier.Lookup>) {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        lookup.whenSuccess { lookup in
            let task = bound.value
            task.perform(task.replied(lookup))
        }
    }

    /// A keyed read's raw reply on this loop's connection.
    private func replied(_ result: Result<L2Connection.Reply, RedisError>) -> ReadMachine.Action {
        guard let l2 = path.l2 else { return .none }
        return replied(read.entry(from: result, in: l2))
    }

    private func replied(_ lookup: consuming L2Tier.Lookup) -> ReadMachine.Action {
        read.l2Replied(lookup, path: path, stamp: stamp, machine: &machine)
    }

    // MARK: Backend

    private func runLoad(softTimeout: UInt64?) {
        let load = read.load(path: path, plan: machine.plan, client: client, on: eventLoop)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        if let softTimeout {
            softTimer = eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: softTimeout))) {
                let task = bound.value
                task.perform(task.machine.softTimeoutFired())
            }
        }
        load.whenComplete { result in
            let task = bound.value
            task.softTimer?.cancel()
            task.softTimer = nil
            switch result {
            case .success(let reply):
                task.perform(task.machine.loaded(reply))
            case .failure(let error):
                task.perform(task.machine.loadFailed(error, databaseUnwell: Database.isUnwell(error)))
            }
        }
    }
}

/// Who waits for a client's read without a closure: the connection, told which reply slot the answer fills. One
/// allocation less per read past L1 than a completion closure (the L2-hit path's cost, `bench/l2_get.py`).
protocol ReadReceiver: AnyObject {
    func readAnswered(_ result: Result<LoadedReply, any Error>, slot: ReadSlot)
    /// The client asking, for the slow log.
    var record: ClientRecord? { get }
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
    func load(path: ReadPath, plan: ReadMachine.Plan, client: ClientRecord?, on eventLoop: any EventLoop)
        -> EventLoopFuture<LoadedReply>
    /// L1's entry if it is at most `maxAge` past its expiry and no write made it wrong (keyed reads only).
    func staleEntry(path: ReadPath, maxAge: UInt64) -> LoadedReply?
    /// Counts the L1 miss, once the read goes past L1.
    func countL1Miss(path: ReadPath)
    /// Counts an answer from a stale entry.
    func countStaleHit()
}

/// A reply produced by a load, and whether it said "no row" (EXISTS needs that).
struct LoadedReply: Sendable {
    var reply: CachedReply
    var isAbsent: Bool
    /// The life (nanoseconds) the load chose for an L2 copy; nil when the result must not go to L2.
    var lifetime: UInt64? = nil
    /// Tables a QUERY read (for its L2 entry); empty for keyed loads.
    var tables: [String] = []
    /// An expired entry standing in for a load that failed because the database is unwell (`max_stale`).
    var isStale = false
}
