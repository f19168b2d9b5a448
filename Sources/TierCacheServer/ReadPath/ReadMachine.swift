import TierCacheCache

/// One read of a key (or a QUERY result) from the moment L1 could not answer it: where it is, and for each thing
/// that happens to it, what must happen next.
///
/// A value with no I/O, no clock and no shared state of its own: times, and what the tiers know (is an L2 entry
/// older than a write this sidecar saw?), arrive with the events. So tests drive it through every path with a
/// test clock (`ReadMachineTests`), and `ReadPath`, its one driver, performs its actions for GET, MGET, EXISTS,
/// QUERY, warming, refresh-ahead and stale-while-revalidate.
///
/// ```
/// lookingUpL1 (missed)
///      │ expired, revalidating allowed ─▶ revalidating ─ served ─────────────────▶ done (refresh in background)
///      │ miss                                   │ nothing to serve
///      ▼                                        ▼
///  (L2 used?) ── yes ─▶ awaitingL2 ─ fresh ──────────────────────────────────────▶ done (fill L1, reply)
///      │ no                 │ miss or expired (an expired one within max_stale is the stale candidate)
///      ▼                    ▼
///  awaitingBackend ─ loaded ─────────────────────────────────────────────────────▶ done (reply)
///      │ soft timeout ─▶ checkingStaleAfterSoftTimeout ─ found ─▶ answeredWhileLoading ─ loaded/failed ─▶ done
///      │ failed, database unwell ─▶ checkingStaleAfterFailure ─ found ─▶ done (reply stale) / none ─▶ done (error)
///      │ failed otherwise ────────────────────────────────────────────────────────▶ done (error)
/// ```
struct ReadMachine {
    /// What the read may do, fixed when it starts: from its type's policy, and whether L2 may be asked now.
    struct Plan: Sendable, Equatable {
        /// Ask L2 before the backend.
        var consultsL2: Bool
        /// Entries from L2 may go into L1 (the type caches there).
        var fillsL1: Bool
        /// A "no row" entry may be cached.
        var cachesMisses: Bool
        /// `stale_while_revalidate`: an entry expired less than this long ago (nanoseconds) is served while a
        /// background load refreshes it. Nil: never.
        var revalidateWindow: UInt64?
        /// `max_stale` is set: an entry expired less than `maxStale` ago may stand in for a load that failed
        /// because the database is unwell (nanoseconds).
        var failSafe: Bool
        var maxStale: UInt64
        /// How long past their expiry entries are kept, for `max_stale` and `stale_while_revalidate`
        /// (nanoseconds).
        var staleGrace: UInt64
        /// With `failSafe`: a load still running after this long (nanoseconds) is answered for by a stale entry,
        /// if there is one; the load goes on and refreshes the cache.
        var softTimeout: UInt64?

        /// Whether an entry may go into L1: the type caches there, and a "no row" entry only if it caches misses.
        func mayFillL1(isAbsent: Bool) -> Bool {
            fillsL1 && (!isAbsent || cachesMisses)
        }

        /// A read that only consults the backend (`refresh_ahead`, QUERY with no L2).
        static let backendOnly = Plan(
            consultsL2: false, fillsL1: true, cachesMisses: true, revalidateWindow: nil, failSafe: false,
            maxStale: 0, staleGrace: 0, softTimeout: nil)
    }

    /// Where the read is. No payloads: what a state carries is kept beside it (`staleFromL2`, `failure`), so a
    /// move between states is one store, not a copy and a destroy of references on the hit path.
    enum State: Equatable {
        case lookingUpL1
        /// Serving an entry expired within `revalidateWindow`, if L1 still has one.
        case revalidating
        case awaitingL2
        /// `staleFromL2`, if any, is there to fall back on.
        case awaitingBackend
        /// The soft timeout fired: answer stale if there is one, else keep waiting for the load.
        case checkingStaleAfterSoftTimeout
        /// The load failed (`failure`) because the database is unwell: answer stale if there is one, else with
        /// the error.
        case checkingStaleAfterFailure
        /// The soft timeout answered with a stale entry; the load goes on, for the cache only.
        case answeredWhileLoading
        case done
    }

    enum Action {
        /// Nothing (for now).
        case none
        /// Serve the key's entry if it expired less than `window` ago and no write has made it wrong; report
        /// with ``revalidation(served:)``.
        case serveExpired(window: UInt64)
        /// An expired entry was served: a background read refreshes it (L2, then the backend).
        case revalidateInBackground
        /// Send the L2 GET; report with ``l2Replied(_:)``.
        case sendL2Get
        /// Run the backend load (joining an identical one running); report with ``loaded(_:)`` or
        /// ``loadFailed(_:databaseUnwell:)``. With `softTimeout`, call ``softTimeoutFired()`` after that many
        /// nanoseconds unless the load is in.
        case runLoad(softTimeout: UInt64?)
        /// Look the key's L1 entry up, expired or not, if it is at most `maxAge` past its expiry and no write has
        /// made it wrong; report with ``staleLookedUp(_:)``.
        case lookUpStale(maxAge: UInt64)
        case reply(LoadedReply)
        /// Answer with an expired entry standing in for the load (counted as a stale hit).
        case replyStale(LoadedReply)
        case fail(any Error)
    }

    /// What an L2 reply told, for the counters.
    enum L2Verdict: Equatable {
        case hit
        /// No entry, an unreadable one, or Redis failed.
        case miss
        /// An entry, but expired or older than a write this sidecar knows of.
        case stale
    }

    /// An entry for L1, when one may go there; `expiresAt` on the monotonic clock (in the past for an expired
    /// entry kept for `max_stale` and `stale_while_revalidate`).
    struct L1Fill: Equatable {
        var reply: CachedReply
        var isAbsent: Bool
        var expiresAt: UInt64
        var isExpired: Bool
    }

    /// An L2 look-up's outcome, with what the sidecar knows about it.
    struct L2Reply {
        /// Nil: no entry, an unreadable one, or Redis failed.
        var entry: L2Entry?
        /// The entry is newer than every write this sidecar knows of (and, for a QUERY result, its tables'
        /// policies still allow L2).
        var isCurrent: Bool
        /// The longest life the entry's policy gives now: an entry created longer ago has outlived a lowered TTL.
        var longestLifetimeMilliseconds: UInt64
        var nowMilliseconds: UInt64
        /// Only a fill uses it: 0 will do when the plan does not fill L1.
        var nowMonotonic: UInt64
        /// The longest life a new L1 entry may have now (shorter while other sidecars can't be heard).
        var l1LifetimeLimit: UInt64 = .max
    }

    /// The outcome of ``l2Replied(_:)``: fill L1 first (when `fill` is set), then do `action`.
    struct L2Step {
        var verdict: L2Verdict
        var fill: L1Fill?
        var action: Action

        /// Moves the action out (a copy would retain the reply it may hold), leaving `.none`.
        mutating func takeAction() -> Action {
            var taken = Action.none
            swap(&taken, &action)
            return taken
        }
    }

    let plan: Plan
    private(set) var state = State.lookingUpL1
    /// An expired L2 entry within `max_stale`, to fall back on while awaiting the backend.
    private var staleFromL2: LoadedReply?
    /// The load's error while L1 is checked for a stale entry to answer instead.
    private var failure: (any Error)?

    init(plan: Plan) {
        self.plan = plan
    }

    // MARK: Events

    /// L1 had no fresh entry; `expired` when it had one past its expiry.
    mutating func l1Missed(expired: Bool) -> Action {
        guard case .lookingUpL1 = state else { return .none }
        if expired, let window = plan.revalidateWindow {
            state = .revalidating
            return .serveExpired(window: window)
        }
        return nextTier()
    }

    mutating func revalidation(served: Bool) -> Action {
        guard case .revalidating = state else { return .none }
        if served {
            state = .done
            return .revalidateInBackground
        }
        return nextTier()
    }

    private mutating func nextTier() -> Action {
        if plan.consultsL2 {
            state = .awaitingL2
            return .sendL2Get
        }
        return runLoad(stale: nil)
    }

    private mutating func runLoad(stale: consuming LoadedReply?) -> Action {
        state = .awaitingBackend
        staleFromL2 = stale
        return .runLoad(softTimeout: plan.failSafe ? plan.softTimeout : nil)
    }

    /// The L2 look-up came back. A fresh entry answers (and fills L1 with its remaining life); an expired one
    /// within the stale grace goes into L1 as the expired entry it is, where stale-while-revalidate and the
    /// fail-safe find it, and within `max_stale` it is kept to fall back on; anything else goes to the backend.
    mutating func l2Replied(_ reply: consuming L2Reply) -> L2Step {
        guard case .awaitingL2 = state else { return L2Step(verdict: .miss, action: .none) }
        let (now, nowMonotonic, isCurrent) = (reply.nowMilliseconds, reply.nowMonotonic, reply.isCurrent)
        let (longest, l1Limit) = (reply.longestLifetimeMilliseconds, reply.l1LifetimeLimit)
        // Moved out, not copied: the entry's reply goes on into the answer.
        guard let entry = (consume reply).entry else { return L2Step(verdict: .miss, action: runLoad(stale: nil)) }
        guard isCurrent else { return L2Step(verdict: .stale, action: runLoad(stale: nil)) }
        // The entry's own expiry, or sooner if the policy's TTL was lowered since it was created.
        let expiresAt = min(entry.expiresAtMilliseconds, entry.createdAtMilliseconds &+ longest)
        let isAbsent = entry.isAbsent
        // A QUERY's tables go with its answer: a user limited to some types is judged by them.
        let tables = entry.tables
        let mayFill = plan.mayFillL1(isAbsent: isAbsent)
        if expiresAt > now {
            state = .done
            let remaining = (expiresAt - now) * 1_000_000
            let answer = LoadedReply(reply: (consume entry).reply, isAbsent: isAbsent, tables: tables)
            guard mayFill else { return L2Step(verdict: .hit, action: .reply(answer)) }
            let fill = L1Fill(
                reply: answer.reply, isAbsent: isAbsent, expiresAt: nowMonotonic &+ min(remaining, l1Limit),
                isExpired: false)
            return L2Step(verdict: .hit, fill: fill, action: .reply(answer))
        }
        let age = (now - expiresAt) * 1_000_000
        guard age < plan.staleGrace else { return L2Step(verdict: .stale, action: runLoad(stale: nil)) }
        let cached = (consume entry).reply
        let fill =
            mayFill
            ? L1Fill(
                reply: cached, isAbsent: isAbsent, expiresAt: nowMonotonic > age ? nowMonotonic - age : 0,
                isExpired: true)
            : nil
        let stale =
            plan.failSafe && age <= plan.maxStale
            ? LoadedReply(reply: cached, isAbsent: isAbsent, tables: tables, isStale: true) : nil
        return L2Step(verdict: .stale, fill: fill, action: runLoad(stale: stale))
    }

    /// The backend load succeeded (it filled the tiers itself: a load outlives the reads waiting for it).
    mutating func loaded(_ reply: LoadedReply) -> Action {
        switch state {
        case .awaitingBackend:
            state = .done
            return .reply(reply)
        case .answeredWhileLoading:
            state = .done
            return .none
        default:
            return .none
        }
    }

    /// The backend load failed; `databaseUnwell` when for the database's sake (`Database.isUnwell`), so a stale
    /// entry may answer instead.
    mutating func loadFailed(_ error: any Error, databaseUnwell: Bool) -> Action {
        switch state {
        case .awaitingBackend:
            guard plan.failSafe, databaseUnwell else {
                state = .done
                return .fail(error)
            }
            if let stale = staleFromL2.take() {
                state = .done
                return .replyStale(stale)
            }
            state = .checkingStaleAfterFailure
            failure = error
            return .lookUpStale(maxAge: plan.maxStale)
        case .answeredWhileLoading:
            state = .done
            return .none
        default:
            return .none
        }
    }

    /// The soft timeout fired while the load runs.
    mutating func softTimeoutFired() -> Action {
        guard case .awaitingBackend = state else { return .none }
        state = .checkingStaleAfterSoftTimeout
        return .lookUpStale(maxAge: plan.maxStale)
    }

    /// What ``Action/lookUpStale(maxAge:)`` found in L1.
    mutating func staleLookedUp(_ found: LoadedReply?) -> Action {
        switch state {
        case .checkingStaleAfterSoftTimeout:
            // L1's entry first: an L2 one found expired went into L1 too, unless L1 had a later one.
            guard let answer = found ?? staleFromL2 else {
                state = .awaitingBackend
                return .none
            }
            state = .answeredWhileLoading
            staleFromL2 = nil
            return .replyStale(answer)
        case .checkingStaleAfterFailure:
            state = .done
            let error = failure.take()
            if let found { return .replyStale(found) }
            // `loadFailed` sets the error with the state; a fallback rather than a crash if that ever changed.
            return .fail(error ?? ProxyError(.generic, "internal error: a failed read lost its error"))
        default:
            return .none
        }
    }

    var isDone: Bool {
        if case .done = state { return true }
        return false
    }
}
