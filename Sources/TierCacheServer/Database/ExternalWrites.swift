import Synchronization
import TierCacheBackend
import TierCacheStats
import TierCacheSupport

/// Other programs' commits (psql, migrations, another service), heard through the backend's change feed, and
/// whether this sidecar hears them now: a state machine over the feed's events that says what the proxy must do.
///
/// Without TierCache's triggers in the database nothing changes from before: entries go stale only until they
/// expire. With them, a change invalidates what reads the table; while the feed is lost, L1 is flushed and new L1
/// entries live short (`--degraded-l1-ttl`), as when the Redis invalidation channel is lost.
final class ExternalWrites: Sendable {
    enum Link: Sendable, Equatable {
        /// The feed has not reported yet.
        case starting
        /// The database has none of TierCache's triggers: there is nothing to hear.
        case notInstalled(sinceMicroseconds: UInt64)
        /// Changes to `tables` are heard.
        case listening(sinceMicroseconds: UInt64, tables: Set<String>)
        /// Changes are missed: L1 entries live short until the feed is back.
        case down(sinceMicroseconds: UInt64, reason: String)
    }

    /// What the proxy does about an event.
    enum Action: Equatable {
        case none
        /// Drop every L1 entry: changes may have been missed.
        case flush
        /// Invalidate what reads these tables.
        case invalidate(Set<String>)
    }

    private let state = Mutex(Link.starting)
    /// Read on every L1 fill, without the lock.
    private let deaf = Atomic<Bool>(false)
    let changesHeard = Counter()
    let losses = Counter()

    var link: Link { state.withLock { $0 } }

    /// Whether changes may be missed now, so new L1 entries must live short.
    var isDeaf: Bool { deaf.load(ordering: .relaxed) }

    /// Takes in one event at wall-clock time `now` (microseconds).
    func handle(_ event: DatabaseChangeEvent, now: UInt64) -> Action {
        state.withLock { link in
            switch event {
            case .listening(let tables):
                let wasDown = if case .down = link { true } else { false }
                link = .listening(sinceMicroseconds: now, tables: tables)
                deaf.store(false, ordering: .relaxed)
                // Entries loaded while deaf may hold what changed meanwhile.
                return wasDown ? .flush : .none
            case .notInstalled:
                if case .notInstalled = link { return .none }
                link = .notInstalled(sinceMicroseconds: now)
                deaf.store(false, ordering: .relaxed)
                return .none
            case .changed(let tables):
                guard case .listening = link else { return .none }
                changesHeard.increment()
                return .invalidate(tables)
            case .lost(let reason):
                switch link {
                case .notInstalled:
                    // Nothing was heard before either: nothing changes.
                    return .none
                case .down(let since, _):
                    link = .down(sinceMicroseconds: since, reason: reason)
                    return .none
                case .starting, .listening:
                    let wasListening = if case .listening = link { true } else { false }
                    link = .down(sinceMicroseconds: now, reason: reason)
                    deaf.store(true, ordering: .relaxed)
                    if wasListening { losses.increment() }
                    return wasListening ? .flush : .none
                }
            }
        }
    }

    /// For `STATS backend.external_writes`.
    func report(now: UInt64) -> StatsNode {
        func seconds(since micros: UInt64) -> StatsNode { .double(Double(now > micros ? now - micros : 0) / 1e6) }
        var fields: [(String, StatsNode)]
        switch link {
        case .starting:
            fields = [("status", .text("starting"))]
        case .notInstalled(let since):
            fields = [("status", .text("not_installed")), ("since_seconds", seconds(since: since))]
        case .listening(let since, let tables):
            fields = [
                ("status", .text("listening")), ("since_seconds", seconds(since: since)),
                ("tables", .text(tables.sorted().joined(separator: ","))),
            ]
        case .down(let since, let reason):
            fields = [
                ("status", .text("down")), ("since_seconds", seconds(since: since)), ("last_error", .text(reason)),
            ]
        }
        return .map(
            fields + [
                ("changes_heard", .integer(Int64(changesHeard.current))), ("losses", .integer(Int64(losses.current))),
            ])
    }
}
