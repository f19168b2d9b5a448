import Synchronization
import TierCacheCache
import TierCacheSupport

/// What this sidecar knows of the writes all sidecars made through the shared tier, and whether it may use that
/// tier right now.
///
/// Every write gets a number from Redis' `<prefix>seq` after it committed, inside the script that publishes it;
/// messages reach a subscriber in that order. So once this sidecar has heard of write `n` (from its own script's
/// reply, a message, or the counter read when it subscribed), every write numbered up to `n` had committed, and a
/// load beginning now sees them all: its entry is stamped `n`. An entry is stale when this sidecar knows of a later
/// write affecting it: of its type (`type:<name>`), of a table it read (QUERY results), or of everything.
final class L2Consistency: Sendable {
    /// The invalidation channel, as a state machine: only `up` lets reads and fills use the shared tier.
    enum Link: Sendable, Equatable {
        /// Not subscribed: messages published now are missed. L1 entries live at most the degraded lifetime.
        case down(sinceMicroseconds: UInt64, reason: String)
        /// Subscribed, reading the counter and the write records; messages are heard and kept.
        case syncing(sinceMicroseconds: UInt64)
        /// Subscribed and in sync.
        case up(sinceMicroseconds: UInt64)
    }

    /// Permission for one load to use the shared tier: the link epoch it began in and its write number.
    struct Ticket: Sendable, Equatable {
        let epoch: UInt64
        let sequence: UInt64
    }

    enum SyncOutcome: Equatable {
        case synced
        /// The counter went backwards: Redis lost its data (restart without persistence, FLUSHALL).
        case syncedAfterReset(previous: UInt64, now: UInt64)
        /// The link changed while the sync was out; its result was dropped.
        case superseded
    }

    private struct State {
        var link: Link
        /// Raised on every link change, so a fill or sync that began under an older link is dropped.
        var epoch: UInt64 = 0
        var knownSequence: UInt64 = 0
        var tableWrites: [String: UInt64] = [:]
        /// Last write numbers of every type named in a write, ours or not, so a type a reload adds starts from its
        /// true number (`register`).
        var typeWritesByName: [String: UInt64] = [:]
        /// The accounting group of each type of the running policy.
        var typeIndex: [String: Int] = [:]
        /// Messages heard since subscribing, merged into the records the sync reads.
        var heardWhileSyncing: [InvalidationMessage] = []
        /// Writes whose invalidation did not reach Redis, merged, to be replayed.
        var pending: InvalidationMessage?
        var replaying = false
        /// The sync request (counter and records) is out.
        var syncInFlight = false

        /// Whether reads may use the shared tier (`ticket()` gives one).
        var mayRead: Bool {
            guard case .up = link, pending == nil, !replaying else { return false }
            return true
        }

        /// Whether messages are being heard.
        var isListening: Bool {
            if case .down = link { return false }
            return true
        }
    }

    private let state: Mutex<State>
    /// `state.mayRead` and `state.isListening`, stored after every change of `state` (`withState`): every L2 GET
    /// and every L1 fill ask, without the lock. (A reader may see one a moment before a change, as it would just
    /// after taking the lock.)
    private let readable = Atomic<Bool>(false)
    private let listening = Atomic<Bool>(false)
    /// Last write numbers per data type (by accounting group, `TypeRegistry.capacity` of them) and of
    /// "everything": written under `state`'s lock, read without it on every L2 hit.
    private let typeWrites: [InvalidationStamp]
    private let allWrite = InvalidationStamp()
    /// A keyed write naming more keys than this while Redis is unreachable is replayed as "everything".
    static let pendingKeyLimit = 10_000

    private let clock: any ServerClock

    init(clock: any ServerClock) {
        self.clock = clock
        state = Mutex(State(link: .down(sinceMicroseconds: clock.wallClockMicroseconds(), reason: "not connected yet")))
        typeWrites = (0..<TypeRegistry.capacity).map { _ in InvalidationStamp() }
    }

    /// Tells which accounting group each data type of the running policy has (at start and after a reload); a
    /// type new to this process starts from the last write number heard for its name.
    func register(_ types: [(name: String, group: Int32)]) {
        withState { state in
            for (name, group) in types where group >= 0 && Int(group) < typeWrites.count {
                state.typeIndex[name] = Int(group)
                typeWrites[Int(group)].raise(to: state.typeWritesByName[name] ?? 0)
            }
        }
    }

    var link: Link { withState { $0.link } }

    /// A ticket when the shared tier may be used: link up and no write of ours waiting to be replayed (until then
    /// the tier may hold entries our own writes replaced).
    func ticket() -> Ticket? {
        withState { state in
            guard state.mayRead else { return nil }
            return Ticket(epoch: state.epoch, sequence: state.knownSequence)
        }
    }

    /// Whether the shared tier may be read now (`ticket()` would give one), without taking the lock.
    var mayRead: Bool { readable.load(ordering: .acquiring) }

    /// Runs `body` under the lock, then publishes whether reads may use the tier.
    private func withState<Result>(_ body: (inout State) -> Result) -> Result {
        state.withLock { state in
            let result = body(&state)
            readable.store(state.mayRead, ordering: .releasing)
            listening.store(state.isListening, ordering: .releasing)
            return result
        }
    }

    /// Whether a ticket's link is still the current one.
    func isCurrent(_ ticket: Ticket) -> Bool {
        withState { state in
            if case .up = state.link { return state.epoch == ticket.epoch && state.pending == nil }
            return false
        }
    }

    /// Whether messages are being heard (the L1 may keep entries for their full life), without the lock.
    var isListening: Bool { listening.load(ordering: .acquiring) }

    /// Lock-free: two atomic loads per L2 hit.
    func keyedEntryIsFresh(group: Int32, sequence: UInt64) -> Bool {
        guard allWrite.current <= sequence else { return false }
        let index = Int(group)
        return index < 0 || index >= typeWrites.count || typeWrites[index].current <= sequence
    }

    func queryEntryIsFresh(tables: [String], sequence: UInt64) -> Bool {
        allWrite.current <= sequence
            && withState { state in tables.allSatisfy { state.tableWrites[$0, default: 0] <= sequence } }
    }

    // MARK: Link changes

    /// The subscription is confirmed; returns the epoch the sync must present.
    func subscribed() -> UInt64 {
        withState { state in
            state.epoch += 1
            state.link = .syncing(sinceMicroseconds: clock.wallClockMicroseconds())
            state.heardWhileSyncing = []
            state.syncInFlight = false
            return state.epoch
        }
    }

    /// The channel is lost. Returns false when it already was down (then only the reason is updated).
    @discardableResult
    func lost(reason: String) -> Bool {
        withState { state in
            if case .down(let since, _) = state.link {
                state.link = .down(sinceMicroseconds: since, reason: reason)
                return false
            }
            state.epoch += 1
            state.link = .down(sinceMicroseconds: clock.wallClockMicroseconds(), reason: reason)
            state.heardWhileSyncing = []
            return true
        }
    }

    /// Claims the sync for the current epoch: nil when not syncing or a sync is already out.
    func beginSync() -> UInt64? {
        withState { state in
            guard case .syncing = state.link, !state.syncInFlight else { return nil }
            state.syncInFlight = true
            return state.epoch
        }
    }

    /// The sync for `epoch` failed; a later maintenance pass tries again.
    func syncFailed(epoch: UInt64) {
        withState { state in
            if state.epoch == epoch { state.syncInFlight = false }
        }
    }

    /// The counter and records read from Redis after subscribing: they replace what was known (Redis may have
    /// restarted empty), merged with messages heard since subscribing.
    func synced(epoch: UInt64, sequence: UInt64, writes: [String: UInt64]) -> SyncOutcome {
        withState { state in
            guard state.epoch == epoch, case .syncing = state.link else { return .superseded }
            let previous = state.knownSequence
            state.knownSequence = sequence
            state.tableWrites = [:]
            state.typeWritesByName = [:]
            allWrite.reset(to: 0)
            for index in state.typeIndex.values { typeWrites[index].reset(to: 0) }
            for (field, number) in writes {
                if field == L2WriteField.all {
                    allWrite.reset(to: number)
                } else if field.hasPrefix("type:") {
                    let name = String(field.dropFirst(5))
                    state.typeWritesByName[name] = number
                    if let index = state.typeIndex[name] { typeWrites[index].reset(to: number) }
                } else if field.hasPrefix("table:") {
                    state.tableWrites[String(field.dropFirst(6))] = number
                }
            }
            for message in state.heardWhileSyncing { apply(message, to: &state) }
            state.heardWhileSyncing = []
            state.syncInFlight = false
            state.link = .up(sinceMicroseconds: clock.wallClockMicroseconds())
            return sequence < previous ? .syncedAfterReset(previous: previous, now: sequence) : .synced
        }
    }

    // MARK: Writes

    /// Records a numbered write: our own (from the script's reply) or another sidecar's (from a message).
    func record(_ message: InvalidationMessage) {
        withState { state in
            apply(message, to: &state)
            if case .syncing = state.link { state.heardWhileSyncing.append(message) }
        }
    }

    private func apply(_ message: InvalidationMessage, to state: inout State) {
        let number = message.sequence
        state.knownSequence = max(state.knownSequence, number)
        if message.everything { allWrite.raise(to: number) }
        for type in message.types {
            state.typeWritesByName[type] = max(state.typeWritesByName[type, default: 0], number)
            if let index = state.typeIndex[type] { typeWrites[index].raise(to: number) }
        }
        for table in message.tables { state.tableWrites[table] = max(state.tableWrites[table, default: 0], number) }
    }

    /// Keeps a write whose invalidation did not reach Redis, merged with others waiting.
    func postpone(_ message: InvalidationMessage) {
        withState { state in
            guard var pending = state.pending else {
                state.pending = message
                return
            }
            pending.everything = pending.everything || message.everything
            pending.types = Array(Set(pending.types).union(message.types)).sorted()
            pending.tables = Array(Set(pending.tables).union(message.tables)).sorted()
            pending.keys = Array(Set(pending.keys).union(message.keys))
            if pending.keys.count > Self.pendingKeyLimit {
                pending.everything = true
                pending.keys = []
            }
            state.pending = pending
        }
    }

    var pendingCount: Int {
        withState { state in
            guard let pending = state.pending else { return 0 }
            return pending.everything ? 1 : pending.keys.count + pending.types.count + pending.tables.count
        }
    }

    /// Takes the deferred invalidations to replay; nil when none, or a replay is already out.
    func beginReplay() -> InvalidationMessage? {
        withState { state in
            guard !state.replaying, let pending = state.pending else { return nil }
            state.pending = nil
            state.replaying = true
            return pending
        }
    }

    func replayFinished(failed message: InvalidationMessage?) {
        withState { $0.replaying = false }
        if let message { postpone(message) }
    }
}
