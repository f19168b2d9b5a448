import NIOCore
import Testing
import TierCacheCache
import TierCacheSupport

@testable import TierCacheServer

/// The read state machine as a value: every path a read past L1 can take, with a test clock and no sleeps.
@Suite("Read state machine")
struct ReadMachineTests {
    private static let ms: UInt64 = 1_000_000
    private let clock = TestClock()

    private static func plan(
        l2: Bool = true,
        cachesMisses: Bool = true,
        revalidate: UInt64? = nil,
        maxStale: UInt64? = nil,
        softTimeout: UInt64? = nil
    ) -> ReadMachine.Plan {
        let revalidation = revalidate ?? 0
        return ReadMachine.Plan(
            consultsL2: l2, fillsL1: true, cachesMisses: cachesMisses, revalidateWindow: revalidate,
            failSafe: maxStale != nil, maxStale: maxStale ?? 0, staleGrace: max(maxStale ?? 0, revalidation),
            softTimeout: maxStale != nil ? softTimeout : nil)
    }

    private static func reply(_ text: String) -> CachedReply {
        CachedReply(resp2: ByteBuffer(string: "$\(text.utf8.count)\r\n\(text)\r\n"))
    }

    /// An L2 entry created `age` ms ago that lives `life` ms.
    private func entry(_ text: String, createdAgo age: UInt64, life: UInt64, absent: Bool = false) -> L2Entry {
        let now = clock.wallClockMilliseconds()
        return L2Entry(
            reply: absent ? ResultEncoding.nullReply : Self.reply(text), isAbsent: absent,
            createdAtMilliseconds: now - age, expiresAtMilliseconds: now - age + life, sequence: 1, tables: [])
    }

    private func l2Reply(_ entry: L2Entry?, current: Bool = true, longest: UInt64 = 60_000, limit: UInt64 = .max)
        -> ReadMachine.L2Reply
    {
        ReadMachine.L2Reply(
            entry: entry, isCurrent: current, longestLifetimeMilliseconds: longest,
            nowMilliseconds: clock.wallClockMilliseconds(), nowMonotonic: clock.monotonicNanoseconds(),
            l1LifetimeLimit: limit)
    }

    private struct Unwell: Error {}

    // MARK: Without L2

    @Test("without L2: L1 miss → load → reply")
    func loadAndReply() throws {
        var machine = ReadMachine(plan: Self.plan(l2: false))
        guard case .runLoad(softTimeout: nil) = machine.l1Missed(expired: false) else {
            Issue.record("expected a load")
            return
        }
        let loaded = LoadedReply(reply: Self.reply("one"), isAbsent: false)
        guard case .reply(let answer) = machine.loaded(loaded) else {
            Issue.record("expected the reply")
            return
        }
        #expect(answer.reply == loaded.reply)
        #expect(machine.isDone)
        guard case .none = machine.loaded(loaded) else {
            Issue.record("a second completion must do nothing")
            return
        }
    }

    @Test("a load that fails for the request's own sake is the client's error, even with max_stale")
    func requestErrorIsNotServedStale() {
        var machine = ReadMachine(plan: Self.plan(l2: false, maxStale: 60_000 * Self.ms))
        _ = machine.l1Missed(expired: false)
        guard case .fail = machine.loadFailed(Unwell(), databaseUnwell: false) else {
            Issue.record("expected the error")
            return
        }
        #expect(machine.isDone)
    }

    @Test("an unwell database without max_stale: the error, no stale look-up")
    func noFailSafe() {
        var machine = ReadMachine(plan: Self.plan(l2: false))
        _ = machine.l1Missed(expired: false)
        guard case .fail = machine.loadFailed(Unwell(), databaseUnwell: true) else {
            Issue.record("expected the error")
            return
        }
    }

    @Test("fail-safe: an unwell database → L1's stale entry within max_stale answers; none → the error")
    func failSafeFromL1() {
        let maxStale = 30_000 * Self.ms
        var machine = ReadMachine(plan: Self.plan(l2: false, maxStale: maxStale))
        _ = machine.l1Missed(expired: false)
        guard case .lookUpStale(maxAge: maxStale) = machine.loadFailed(Unwell(), databaseUnwell: true) else {
            Issue.record("expected a stale look-up within max_stale")
            return
        }
        let stale = LoadedReply(reply: Self.reply("old"), isAbsent: false, isStale: true)
        guard case .replyStale(let answer) = machine.staleLookedUp(stale) else {
            Issue.record("expected the stale entry")
            return
        }
        #expect(answer.reply == stale.reply)
        #expect(machine.isDone)

        var none = ReadMachine(plan: Self.plan(l2: false, maxStale: maxStale))
        _ = none.l1Missed(expired: false)
        _ = none.loadFailed(Unwell(), databaseUnwell: true)
        guard case .fail(let error) = none.staleLookedUp(nil) else {
            Issue.record("expected the load's error")
            return
        }
        #expect(error is Unwell)
    }

    // MARK: Soft timeout

    @Test("soft timeout: a slow load is answered by the stale entry; the load goes on for the cache only")
    func softTimeoutAnswersStale() {
        var machine = ReadMachine(plan: Self.plan(l2: false, maxStale: 60_000 * Self.ms, softTimeout: 50 * Self.ms))
        guard case .runLoad(softTimeout: 50 * Self.ms) = machine.l1Missed(expired: false) else {
            Issue.record("expected a load with its soft timeout")
            return
        }
        guard case .lookUpStale = machine.softTimeoutFired() else {
            Issue.record("expected a stale look-up")
            return
        }
        let stale = LoadedReply(reply: Self.reply("old"), isAbsent: false, isStale: true)
        guard case .replyStale = machine.staleLookedUp(stale) else {
            Issue.record("expected the stale answer")
            return
        }
        #expect(!machine.isDone, "the load is still running")
        guard case .none = machine.loaded(LoadedReply(reply: Self.reply("new"), isAbsent: false)) else {
            Issue.record("the client was answered already")
            return
        }
        #expect(machine.isDone)
    }

    @Test("soft timeout with nothing stale: the read keeps waiting for the load, and its failure is the error")
    func softTimeoutWithoutStale() {
        var machine = ReadMachine(plan: Self.plan(l2: false, maxStale: 60_000 * Self.ms, softTimeout: 50 * Self.ms))
        _ = machine.l1Missed(expired: false)
        _ = machine.softTimeoutFired()
        guard case .none = machine.staleLookedUp(nil) else {
            Issue.record("nothing to answer with yet")
            return
        }
        guard case .lookUpStale = machine.loadFailed(Unwell(), databaseUnwell: true) else {
            Issue.record("the fail-safe looks again")
            return
        }
        guard case .fail = machine.staleLookedUp(nil) else {
            Issue.record("expected the error")
            return
        }
    }

    @Test("soft timeout is off without max_stale")
    func noSoftTimeoutWithoutMaxStale() {
        var plan = Self.plan(l2: false)
        plan.softTimeout = 50 * Self.ms
        var machine = ReadMachine(plan: plan)
        guard case .runLoad(softTimeout: nil) = machine.l1Missed(expired: false) else {
            Issue.record("expected no soft timeout")
            return
        }
    }

    // MARK: L2

    @Test("L2 hit: fills L1 with the entry's remaining life and replies")
    func l2Hit() {
        var machine = ReadMachine(plan: Self.plan())
        guard case .sendL2Get = machine.l1Missed(expired: false) else {
            Issue.record("expected the L2 GET")
            return
        }
        let found = entry("one", createdAgo: 10_000, life: 60_000)
        let step = machine.l2Replied(l2Reply(found))
        #expect(step.verdict == .hit)
        #expect(step.fill?.expiresAt == clock.monotonicNanoseconds() + 50_000 * Self.ms)
        #expect(step.fill?.isExpired == false)
        guard case .reply(let answer) = step.action else {
            Issue.record("expected the reply")
            return
        }
        #expect(answer.reply == found.reply)
        #expect(machine.isDone)
    }

    @Test("L2 hit while other sidecars can't be heard: the L1 copy lives no longer than the degraded bound")
    func l2HitDegraded() {
        var machine = ReadMachine(plan: Self.plan())
        _ = machine.l1Missed(expired: false)
        let step = machine.l2Replied(l2Reply(entry("one", createdAgo: 0, life: 60_000), limit: 1_000 * Self.ms))
        #expect(step.fill?.expiresAt == clock.monotonicNanoseconds() + 1_000 * Self.ms)
    }

    @Test("a lowered TTL shortens an L2 entry made under the old one; past it, the entry is stale")
    func loweredTTL() {
        var machine = ReadMachine(plan: Self.plan())
        _ = machine.l1Missed(expired: false)
        // Made 20 s ago to live 60 s, but the type's longest life is now 30 s: 10 s left.
        let step = machine.l2Replied(l2Reply(entry("one", createdAgo: 20_000, life: 60_000), longest: 30_000))
        #expect(step.verdict == .hit)
        #expect(step.fill?.expiresAt == clock.monotonicNanoseconds() + 10_000 * Self.ms)

        var late = ReadMachine(plan: Self.plan())
        _ = late.l1Missed(expired: false)
        let stale = late.l2Replied(l2Reply(entry("one", createdAgo: 40_000, life: 60_000), longest: 30_000))
        #expect(stale.verdict == .stale)
        #expect(stale.fill == nil)
    }

    @Test("L2 miss, and an entry older than a known write: to the backend, nothing filled")
    func l2MissAndOverwritten() {
        var machine = ReadMachine(plan: Self.plan())
        _ = machine.l1Missed(expired: false)
        let miss = machine.l2Replied(l2Reply(nil))
        #expect(miss.verdict == .miss)
        #expect(miss.fill == nil)
        guard case .runLoad = miss.action else {
            Issue.record("expected the load")
            return
        }

        var overwritten = ReadMachine(plan: Self.plan(maxStale: 60_000 * Self.ms))
        _ = overwritten.l1Missed(expired: false)
        let step = overwritten.l2Replied(l2Reply(entry("old", createdAgo: 0, life: 60_000), current: false))
        #expect(step.verdict == .stale)
        #expect(step.fill == nil)
        guard case .fail = overwritten.loadFailed(Unwell(), databaseUnwell: true).staleOrFail(&overwritten) else {
            Issue.record("an overwritten entry must never stand in")
            return
        }
    }

    @Test("an expired L2 entry within max_stale: kept in L1 as expired, and answers when the database is unwell")
    func expiredL2EntryStandsIn() {
        let maxStale = 60_000 * Self.ms
        var machine = ReadMachine(plan: Self.plan(maxStale: maxStale))
        _ = machine.l1Missed(expired: false)
        // Expired 5 s ago.
        let found = entry("old", createdAgo: 65_000, life: 60_000)
        let step = machine.l2Replied(l2Reply(found))
        #expect(step.verdict == .stale)
        #expect(step.fill?.isExpired == true)
        #expect(step.fill?.expiresAt == clock.monotonicNanoseconds() - 5_000 * Self.ms)
        guard case .runLoad = step.action else {
            Issue.record("expected the load")
            return
        }
        guard case .replyStale(let answer) = machine.loadFailed(Unwell(), databaseUnwell: true) else {
            Issue.record("expected the L2 entry to stand in")
            return
        }
        #expect(answer.reply == found.reply)
        #expect(answer.isStale)
    }

    @Test("an expired L2 entry also answers a soft timeout when L1 has nothing")
    func expiredL2EntryAnswersSoftTimeout() {
        var machine = ReadMachine(plan: Self.plan(maxStale: 60_000 * Self.ms, softTimeout: 100 * Self.ms))
        _ = machine.l1Missed(expired: false)
        let found = entry("old", createdAgo: 61_000, life: 60_000)
        guard case .runLoad(softTimeout: 100 * Self.ms) = machine.l2Replied(l2Reply(found)).action else {
            Issue.record("expected the load with its soft timeout")
            return
        }
        clock.advance(by: .milliseconds(100))
        _ = machine.softTimeoutFired()
        guard case .replyStale(let answer) = machine.staleLookedUp(nil) else {
            Issue.record("expected the L2 entry")
            return
        }
        #expect(answer.reply == found.reply)
    }

    @Test("an L2 entry expired beyond the stale grace is neither kept nor served")
    func expiredBeyondGrace() {
        var machine = ReadMachine(plan: Self.plan(maxStale: 10_000 * Self.ms))
        _ = machine.l1Missed(expired: false)
        let step = machine.l2Replied(l2Reply(entry("old", createdAgo: 75_000, life: 60_000)))
        #expect(step.verdict == .stale)
        #expect(step.fill == nil)
        guard case .runLoad = step.action else {
            Issue.record("expected the load")
            return
        }
        guard case .lookUpStale = machine.loadFailed(Unwell(), databaseUnwell: true) else {
            Issue.record("only L1 may still have something")
            return
        }
    }

    @Test("a cached miss from L2 is served, and goes into L1 only when the type caches misses")
    func absentEntries() {
        var caching = ReadMachine(plan: Self.plan(cachesMisses: true))
        _ = caching.l1Missed(expired: false)
        let step = caching.l2Replied(l2Reply(entry("", createdAgo: 0, life: 60_000, absent: true)))
        #expect(step.fill?.isAbsent == true)

        var notCaching = ReadMachine(plan: Self.plan(cachesMisses: false))
        _ = notCaching.l1Missed(expired: false)
        let other = notCaching.l2Replied(l2Reply(entry("", createdAgo: 0, life: 60_000, absent: true)))
        #expect(other.verdict == .hit)
        #expect(other.fill == nil)
        guard case .reply(let answer) = other.action else {
            Issue.record("expected the reply")
            return
        }
        #expect(answer.isAbsent)
    }

    // MARK: Stale-while-revalidate

    @Test("stale-while-revalidate: an expired L1 entry within the window is served and refreshed in the background")
    func revalidation() {
        let window = 5_000 * Self.ms
        var machine = ReadMachine(plan: Self.plan(revalidate: window))
        guard case .serveExpired(window: window) = machine.l1Missed(expired: true) else {
            Issue.record("expected the expired entry served")
            return
        }
        guard case .revalidateInBackground = machine.revalidation(served: true) else {
            Issue.record("expected a background refresh")
            return
        }
        #expect(machine.isDone)
    }

    @Test("stale-while-revalidate with nothing to serve, or an entry that is missing rather than expired: a normal read")
    func revalidationFallsThrough() {
        var machine = ReadMachine(plan: Self.plan(revalidate: 5_000 * Self.ms))
        _ = machine.l1Missed(expired: true)
        guard case .sendL2Get = machine.revalidation(served: false) else {
            Issue.record("expected the L2 GET")
            return
        }
        var missing = ReadMachine(plan: Self.plan(l2: false, revalidate: 5_000 * Self.ms))
        guard case .runLoad = missing.l1Missed(expired: false) else {
            Issue.record("a missing entry is not revalidated")
            return
        }
        var noWindow = ReadMachine(plan: Self.plan(l2: false))
        guard case .runLoad = noWindow.l1Missed(expired: true) else {
            Issue.record("without the policy, an expired entry is a miss")
            return
        }
    }

    @Test("events out of turn do nothing")
    func outOfTurn() {
        var machine = ReadMachine(plan: Self.plan())
        guard case .none = machine.loaded(LoadedReply(reply: Self.reply("x"), isAbsent: false)) else {
            Issue.record("no load is running")
            return
        }
        guard case .none = machine.softTimeoutFired() else {
            Issue.record("no load is running")
            return
        }
        _ = machine.l1Missed(expired: false)
        guard case .none = machine.l1Missed(expired: false) else {
            Issue.record("L1 was looked up already")
            return
        }
        #expect(machine.l2Replied(l2Reply(nil)).verdict == .miss)
        guard case .none = machine.l2Replied(l2Reply(nil)).action else {
            Issue.record("L2 answered already")
            return
        }
    }
}

extension ReadMachine.Action {
    /// Follows a stale look-up with "L1 has nothing", as the driver would when it finds nothing.
    fileprivate func staleOrFail(_ machine: inout ReadMachine) -> ReadMachine.Action {
        if case .lookUpStale = self { return machine.staleLookedUp(nil) }
        return self
    }
}
