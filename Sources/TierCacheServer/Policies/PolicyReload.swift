import Logging
import NIOCore
import Synchronization
import TierCacheCache
import TierCachePolicy
import TierCacheSupport

/// One policy version as it was loaded.
public struct PolicyLoadRecord: Sendable, Equatable {
    /// `PolicySet.digest`: names the files' contents.
    public var digest: String
    public var files: [String]
    public var types: Int
    /// Wall clock, microseconds since 1970.
    public var loadedAtMicroseconds: UInt64

    init(policies: PolicySet, loadedAtMicroseconds: UInt64) {
        digest = policies.digest
        files = policies.files
        types = policies.types.count
        self.loadedAtMicroseconds = loadedAtMicroseconds
    }
}

/// The reloads since start-up, for `STATS` and `POLICY SHOW` (the version in force is `Proxy.currentPolicy`'s).
public struct PolicyHistory: Sendable {
    public var reloads = 0
    /// Reloads refused (the running policy was kept).
    public var failures = 0
    /// Why the last reload was refused, one `file:line:column: message` per line; cleared by the next reload
    /// that succeeds or finds the files back to the running policy.
    public var lastError: String?
    public var lastErrorAtMicroseconds: UInt64?
}

/// What a reload did.
public enum PolicyReloadOutcome: Sendable, Equatable {
    /// The new policy is in force; `changes` describes it for the log.
    case reloaded(PolicyLoadRecord, changes: [String])
    /// The files hold the running policy.
    case unchanged(PolicyLoadRecord)
    /// The running policy was kept; every problem, one `file:line:column: message` per line.
    case refused(String)
}

/// Policy reloads: `SIGHUP`, a file change, `POLICY RELOAD`.
struct PolicyReloader {
    let proxy: Proxy

    init(_ proxy: Proxy) { self.proxy = proxy }

    /// Reads, checks and swaps in the policy at `configuration.policyPath`: every file parsed and every statement
    /// prepared first, then the new version replaces the old at once. Requests under way finish under the version
    /// they began with. Entries already cached follow the new policy now: a type removed or switched off L1 loses
    /// its L1 entries, a lowered TTL shortens its entries' lives by the difference (L2 entries are judged by their
    /// creation time and the new TTL when read). Anything wrong keeps the running policy.
    ///
    /// Blocks (files, database): call it off the event loops. Reloads run one at a time.
    ///
    /// - Parameter trigger: what asked for it, for the log (`file change`, `SIGHUP`, `POLICY RELOAD`).
    func reload(trigger: String) -> PolicyReloadOutcome {
        proxy.reloading.withLock { _ in
            let outcome = attemptReload()
            record(outcome, trigger: trigger)
            return outcome
        }
    }

    private func attemptReload() -> PolicyReloadOutcome {
        let policies: PolicySet
        do {
            policies = try PolicyLoader.load(path: proxy.configuration.policyPath)
        } catch {
            return .refused(error.description)
        }
        let (old, oldRecord) = proxy.policies.current.withLock { $0 }
        if policies.digest == oldRecord.digest { return .unchanged(oldRecord) }
        // Reloads run on the proxy's admin queue or the watcher's, never on an event loop or a backend thread:
        // waiting here for the backend's answers blocks nobody's requests.
        let validation: PolicyValidation.Outcome
        do {
            validation = try PolicyValidation.validate(
                policies, against: proxy.database.adapter, on: proxy.eventLoopGroup.next()
            ).wait()
        } catch {
            return .refused("\(proxy.configuration.policyPath): the database did not answer: \(error)")
        }
        for warning in validation.warnings { proxy.logger.warning("\(warning.description)") }
        guard validation.errors.isEmpty else {
            return .refused(validation.errors.map(\.description).joined(separator: "\n"))
        }
        let new: PolicyState
        do {
            new = try PolicyState(policies, exactIDs: validation.exactIDs, registry: proxy.typeRegistry)
        } catch {
            return .refused("\(proxy.configuration.policyPath): \(error)")
        }
        let record = PolicyLoadRecord(policies: policies, loadedAtMicroseconds: proxy.clock.wallClockMicroseconds())
        // Registered before the swap, so an L2 read under the new version already knows its types' writes.
        proxy.l2?.consistency.register(new.types.map { ($0.name, $0.group) })
        proxy.policies.replace(with: new, record: record)
        let changes = applyToCachedEntries(from: old, to: new)
        return .reloaded(record, changes: changes)
    }

    /// Makes what L1 holds follow the new version; returns what changed, for the log.
    private func applyToCachedEntries(from old: PolicyState, to new: PolicyState) -> [String] {
        proxy.l1.setStaleGrace(new.staleGraceByGroup)
        var changes: [String] = []
        for type in new.types where old.type(named: type.name) == nil {
            changes.append("type \(type.name) added")
        }
        for before in old.types {
            let after = new.type(named: before.name)
            guard let after, after.policy.l1 else {
                proxy.l1.revise(group: before.group) { _ in nil }
                changes.append(after == nil ? "type \(before.name) removed" : "type \(before.name) off L1")
                continue
            }
            if after.policy != before.policy { changes.append("type \(before.name) changed") }
            shortenLives(group: before.group, from: before.lifetime, to: after.lifetime)
        }
        let (before, after) = (old.defaultType, new.defaultType)
        if before.cachesInL1, !after.cachesInL1 {
            proxy.l1.revise(group: before.group) { _ in nil }
        } else {
            shortenLives(group: before.group, from: before.lifetime, to: after.lifetime)
        }
        if before.policy != after.policy { changes.append("default changed") }
        return changes
    }

    /// An entry loaded with TTL `old` expires `old - new` sooner under TTL `new`; one already past that goes now.
    /// (Exact without jitter; within the jitter otherwise. Entries of a raised TTL keep their expiry.)
    private func shortenLives(group: Int32, from old: EntryLifetime, to new: EntryLifetime) {
        guard new.ttlNanoseconds < old.ttlNanoseconds else { return }
        let cut = old.ttlNanoseconds - new.ttlNanoseconds
        let now = proxy.clock.monotonicNanoseconds()
        proxy.l1.revise(group: group) { expiresAt in
            expiresAt > cut && expiresAt - cut > now ? expiresAt - cut : nil
        }
    }

    private func record(_ outcome: PolicyReloadOutcome, trigger: String) {
        switch outcome {
        case .reloaded(let record, let changes):
            proxy.policies.history.withLock { history in
                history.reloads += 1
                history.lastError = nil
            }
            proxy.logger.notice(
                "policy reloaded",
                metadata: [
                    "trigger": "\(trigger)", "version": "\(record.digest)", "types": "\(record.types)",
                    "changes": "\(changes.isEmpty ? "none" : changes.joined(separator: "; "))",
                ])
        case .unchanged(let record):
            let cleared = proxy.policies.history.withLock { history -> Bool in
                defer { history.lastError = nil }
                return history.lastError != nil
            }
            if cleared {
                proxy.logger.notice(
                    "policy files are back to the running policy; error cleared",
                    metadata: ["trigger": "\(trigger)", "version": "\(record.digest)"])
            } else {
                proxy.logger.debug("policy unchanged", metadata: ["trigger": "\(trigger)", "version": "\(record.digest)"])
            }
        case .refused(let errors):
            proxy.policies.history.withLock { history in
                history.failures += 1
                history.lastError = errors
                history.lastErrorAtMicroseconds = proxy.clock.wallClockMicroseconds()
            }
            proxy.logger.error("policy reload refused; the running policy stays in force", metadata: ["trigger": "\(trigger)"])
            for line in errors.split(separator: "\n") { proxy.logger.error("\(line)") }
        }
    }
}
