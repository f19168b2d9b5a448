import NIOCore
import TierCacheCache
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// One read past L1 on its event loop: performs its `ReadMachine`'s actions until the machine is done, and
/// answers `completion` once. The only place a read's actions are carried out.
///
/// Loop-confined: made, driven and finished on `eventLoop` (replies from Redis, the load's completion and the soft
/// timeout all arrive there).
final class ReadTask {
    /// What is read.
    enum Target {
        case key(ReadPath.KeyRead)
        case query(ReadPath.QueryRead)
    }

    private let path: ReadPath
    private let target: Target
    private var machine: ReadMachine
    /// The write number when the read began: fills from it are refused if a write came after.
    private let stamp: UInt64
    private let connection: L2Connection?
    private let eventLoop: any EventLoop
    private var completion: ((Result<LoadedReply, any Error>) -> Void)?
    private var softTimer: Scheduled<Void>?
    /// The L1 miss is counted once, when the read first goes past L1.
    private var missCounted: Bool

    init(
        path: ReadPath,
        target: Target,
        machine: ReadMachine,
        stamp: UInt64,
        connection: L2Connection?,
        eventLoop: any EventLoop,
        missCounted: Bool = false,
        completion: @escaping (Result<LoadedReply, any Error>) -> Void
    ) {
        self.path = path
        self.target = target
        self.machine = machine
        self.stamp = stamp
        self.connection = connection
        self.eventLoop = eventLoop
        self.missCounted = missCounted
        self.completion = completion
    }

    /// Performs `action` and what follows from it synchronously; returns when the read waits for L2 or the
    /// backend, or is done.
    func perform(_ action: ReadMachine.Action) {
        var action = action
        while true {
            switch action {
            case .none, .revalidateInBackground:
                // (Revalidation is `ReadPath.start`'s.)
                return
            case .serveExpired:
                action = machine.revalidation(served: false)
            case .sendL2Get:
                countMiss()
                sendL2Get()
                return
            case .runLoad(let softTimeout):
                countMiss()
                runLoad(softTimeout: softTimeout)
                return
            case .lookUpStale(let maxAge):
                guard case .key(let read) = target else {
                    action = machine.staleLookedUp(nil)
                    continue
                }
                action = machine.staleLookedUp(path.staleEntry(read, maxAge: maxAge))
            case .reply(let reply):
                answer(.success(reply))
                return
            case .replyStale(let reply):
                if case .key(let read) = target { read.type.counters.staleHits.increment() }
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
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

    private func countMiss() {
        guard !missCounted else { return }
        missCounted = true
        if case .key(let read) = target { path.countL1Miss(read) }
    }

    // MARK: L2

    private func sendL2Get() {
        guard let l2 = path.l2 else {
            perform(replied(.miss))
            return
        }
        switch target {
        case .key(let read):
            if let connection = connection ?? l2.localConnection() {
                // On this loop's own Redis connection: the reply comes back here with no hop and no future.
                // The closure holds the task alone: the L2-hit path's one allocation besides the task.
                l2.requestEntry(read.key, on: connection) { [self] result in perform(replied(result)) }
                return
            }
            whenL2Answers(l2.get(l2.namespace.entryKey(read.key), on: eventLoop))
        case .query(let read):
            whenL2Answers(l2.get(l2.namespace.queryKey(read.key), on: eventLoop))
        }
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
        guard let l2 = path.l2, case .key(let read) = target else { return .none }
        return replied(l2.entry(from: result, key: read.key))
    }

    private func replied(_ lookup: L2Tier.Lookup) -> ReadMachine.Action {
        switch target {
        case .key(let read): path.l2Replied(lookup, read: read, stamp: stamp, machine: &machine)
        case .query(let read): path.l2Replied(lookup, query: read, stamp: stamp, machine: &machine)
        }
    }

    // MARK: Backend

    private func runLoad(softTimeout: UInt64?) {
        let load: EventLoopFuture<LoadedReply>
        switch target {
        case .key(let read): load = path.load(read, plan: machine.plan, on: eventLoop)
        case .query(let read): load = path.load(read, consultedL2: machine.plan.consultsL2, on: eventLoop)
        }
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
