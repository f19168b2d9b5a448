import NIOCore
import TierCachePolicy
import TierCacheStats

/// A data type as one policy version uses it: its policy, and what it keeps across versions (its `TypeSlot`):
/// its accounting group, the stamp that invalidates all of its entries at once, and its counters.
public final class DataTypeState: Sendable {
    public let policy: DataTypePolicy
    /// `policy.l1`, kept apart for the hit path (which then touches no field of the policy).
    public let servesL1: Bool
    /// The L1 accounting group of its entries; index into `PolicyState.typesByGroup`.
    public let group: Int32
    /// Raised by writes that may change any entry of this type: an SQL.EXEC on one of its tables, or a keyed
    /// write of another type that touches them. Entries stamped before it are stale.
    public let stamp: InvalidationStamp
    public let counters: TypeCounters
    public let lifetime: EntryLifetime
    /// Whether each row has exactly one key (the backend compares ids byte for byte). Then a keyed write
    /// invalidates just its key; otherwise (`1` and `01` may be one INTEGER row) it invalidates the whole type.
    public let idsAreExact: Bool
    /// How long past its expiry an entry may stand in for a load that fails (`max_stale`), nanoseconds; 0: never.
    public let maxStaleNanoseconds: UInt64
    /// How long past their expiry entries are kept, in L1 and in L2: for `max_stale` or for
    /// `stale_while_revalidate`, whichever is longer. Nanoseconds.
    public let staleGraceNanoseconds: UInt64
    /// A hit on an entry with less than this left to live starts a refresh (`refresh_ahead`); 0: never.
    public let refreshWindowNanoseconds: UInt64
    /// `ttl_max` in nanoseconds: the longest life adaptive TTL gives a read-often key; nil without it.
    public let adaptiveMaxNanoseconds: UInt64?
    /// The longest life any entry of the type gets, jitter included, in milliseconds: an L2 entry created longer
    /// ago has outlived the policy (its TTL was lowered since), whatever expiry it carries.
    public let longestLifetimeMilliseconds: UInt64
    /// What a client's read of this type may do past L1, as far as the policy says (`ReadPath.plan(for:)` adds
    /// the tiers' state and the read's purpose): worked out once, not on every read.
    let readPlan: ReadMachine.Plan

    public init(policy: DataTypePolicy, slot: TypeSlot, idsAreExact: Bool) {
        self.policy = policy
        self.servesL1 = policy.l1
        self.group = slot.group
        self.stamp = slot.stamp
        self.idsAreExact = idsAreExact
        self.counters = slot.counters
        self.lifetime = EntryLifetime(milliseconds: policy.ttl.milliseconds, jitterPercent: policy.jitterPercent)
        self.maxStaleNanoseconds = UInt64(max(policy.maxStale?.milliseconds ?? 0, 0)) * 1_000_000
        let revalidation = UInt64(max(policy.staleWhileRevalidate?.milliseconds ?? 0, 0)) * 1_000_000
        self.staleGraceNanoseconds = max(maxStaleNanoseconds, revalidation)
        let ttl = Double(max(policy.ttl.milliseconds, 0)) * 1_000_000
        self.refreshWindowNanoseconds = policy.refreshAhead.map { UInt64((1 - $0) * ttl) } ?? 0
        self.adaptiveMaxNanoseconds = policy.ttlMax.map { UInt64(max($0.milliseconds, 0)) * 1_000_000 }
        let longest = Double(max(policy.ttlMax?.milliseconds ?? 0, policy.ttl.milliseconds))
        self.longestLifetimeMilliseconds = UInt64((longest * (1 + policy.jitterPercent / 100)).rounded(.up))
        self.readPlan = ReadMachine.Plan(
            consultsL2: policy.l2,
            fillsL1: policy.l1,
            cachesMisses: policy.cacheMisses,
            revalidateWindow: policy.staleWhileRevalidate.map { UInt64(max($0.milliseconds, 0)) * 1_000_000 },
            failSafe: policy.maxStale != nil,
            maxStale: maxStaleNanoseconds,
            staleGrace: staleGraceNanoseconds,
            softTimeout: nil
        )
    }

    /// Adaptive TTL's rule: a key read R times per TTL (as the access tracker estimates it) lives `ttl × R / 10`,
    /// at least `ttl` and at most `ttl_max`. So a key read twice a minute under `ttl: 1m` keeps `ttl`, one read
    /// 100 times a minute lives ten minutes.
    public static let readsPerTTLForEachTTL = 10.0

    /// The life of an entry loaded now: the TTL spread by jitter; with `ttl_max`, stretched for keys read often
    /// (`readsPerSecond` estimated by the access tracker).
    func nextLifetime(readsPerSecond: @autoclosure () -> Double) -> UInt64 {
        let base = lifetime.next()
        guard let longest = adaptiveMaxNanoseconds else { return base }
        let readsPerTTL = readsPerSecond() * Double(lifetime.ttlNanoseconds) / 1e9
        let factor = max(1, readsPerTTL / Self.readsPerTTLForEachTTL)
        return min(UInt64(min(Double(base) * factor, Double(UInt64.max / 2))), longest)
    }

    public var name: String { policy.name }
}

/// A policy's TTL and jitter, as nanoseconds for L1 expiry.
public struct EntryLifetime: Sendable {
    public let ttlNanoseconds: UInt64
    public let jitterFraction: Double

    init(milliseconds: Int64, jitterPercent: Double) {
        ttlNanoseconds = UInt64(max(milliseconds, 0)) * 1_000_000
        jitterFraction = jitterPercent / 100
    }

    /// The longest life `next()` gives, in milliseconds: an L2 entry created longer ago than this has outlived
    /// the policy (its TTL was lowered since), whatever expiry it carries.
    public var longestMilliseconds: UInt64 {
        UInt64((Double(ttlNanoseconds) * (1 + jitterFraction) / 1_000_000).rounded(.up))
    }

    /// A lifetime for a new entry: the TTL spread by ±jitter so entries loaded together don't expire together.
    public func next() -> UInt64 {
        guard jitterFraction > 0 else { return ttlNanoseconds }
        let factor = 1 + Double.random(in: -jitterFraction...jitterFraction)
        return UInt64(max(1, (Double(ttlNanoseconds) * factor).rounded()))
    }
}

/// How reads that match no type are treated: QUERY results over tables no type owns.
public final class DefaultTypeState: Sendable {
    public let policy: DefaultPolicy
    public let group: Int32
    public let counters: TypeCounters
    public let lifetime: EntryLifetime

    init(policy: DefaultPolicy, slot: TypeSlot) {
        self.policy = policy
        self.group = slot.group
        self.counters = slot.counters
        self.lifetime = EntryLifetime(milliseconds: policy.ttl?.milliseconds ?? 0, jitterPercent: policy.jitterPercent)
    }

    /// Whether results of no type are cached in L1, and in L2.
    public var cachesInL1: Bool { policy.cache && policy.l1 && lifetime.ttlNanoseconds > 0 }
    public var cachesInL2: Bool { policy.cache && policy.l2 && lifetime.ttlNanoseconds > 0 }
}
