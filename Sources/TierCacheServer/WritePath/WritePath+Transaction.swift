import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheStats
import TierCacheSupport

/// What became of a `MULTI … EXEC` that ran.
enum TransactionOutcome: Sendable {
    /// Every step ran and the transaction committed: their replies, in order.
    case committed([ByteBuffer])
    /// A watched key's row changed since `WATCH`: nothing ran.
    case watchedKeyChanged
}

/// A step of a transaction failed, so the transaction was rolled back and nothing was written.
struct TransactionStepFailed: Error, Sendable {
    /// The step's place in the transaction, from 0.
    var index: Int
    var error: ProxyError
}

/// `MULTI … EXEC`: the queued commands run in one database transaction (`TransactionRun`), so their writes commit
/// all together or not at all, and a read in it sees the transaction's earlier writes. Reads in a transaction go to
/// the database, not the cache tiers, and fill nothing: what they see may never commit. After the commit the
/// transaction's writes invalidate as one write, before the client hears the replies.
extension WritePath {
    /// Runs `steps` in one database transaction and returns each step's reply, encoded for `version`.
    ///
    /// - Parameter watched: keys under `WATCH`: when one's row differs from its snapshot, checked first inside the
    ///   transaction (which holds the write lock, so no write can come between the check and the steps), nothing
    ///   runs.
    /// - Returns: what became of the transaction; a failed future when it did not commit: `TransactionStepFailed`
    ///   naming the step that failed, or another error when it could not start or commit (the breaker open, the
    ///   database locked). Then nothing was written.
    func runTransaction(
        _ steps: [TransactionStep],
        watched: [WatchedKey],
        version: RESPVersion,
        client: ClientRecord? = nil,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<TransactionOutcome> {
        let origin: StatementOrigin = steps.contains(where: \.runsClientSQL) ? .client : .policy
        let script = TransactionRun(steps: steps, watched: watched, version: version)
        return database.run(eventLoop, statements: origin, writes: true) { adapter, call in
            adapter.transaction(script, call: call)
                .flatMapErrorThrowing { [self] error in throw Database.clientError(error, counting: stats.backend, as: "transaction") }
                .flatMapThrowing { [self] output -> (TransactionOutcome, Invalidation) in
                    switch output {
                    case .committed(let replies, let writes):
                        recordTransaction(steps, took: clock.monotonicNanoseconds() &- call.startedAt, client: client)
                        var invalidation = Invalidation()
                        for write in writes { invalidation.merge(self.invalidation(of: write)) }
                        apply(invalidation)
                        return (.committed(replies), invalidation)
                    case .watchedKeyChanged:
                        recordTransaction(steps, took: clock.monotonicNanoseconds() &- call.startedAt, client: client)
                        return (.watchedKeyChanged, Invalidation())
                    case .stepFailed(let index, let error):
                        stats.backend.countError(error, operation: "transaction")
                        throw TransactionStepFailed(index: index, error: ProxyError(error))
                    case .failed(let error):
                        stats.backend.countError(error, operation: "transaction")
                        throw ProxyError(error)
                    }
                }
        }.flatMap { [self] (outcome: TransactionOutcome, invalidation: Invalidation) in
            publish(invalidation, on: eventLoop).map { outcome }
        }
    }

    /// Each key's row as the database holds it now, for `WATCH`: read one after another.
    func snapshot(_ targets: [TransactionStep.Target], on eventLoop: any EventLoop) -> EventLoopFuture<[ResultSet]> {
        database.run(eventLoop, statements: .policy) { adapter, call in
            var rows = eventLoop.makeSucceededFuture([ResultSet]())
            for target in targets {
                rows = rows.flatMap { sets in
                    adapter.read(
                        target.type.policy.load, parameters: [SQLValue(parameter: target.id)], origin: .policy,
                        call: call
                    ).map { sets + [$0.resultSet] }
                }
            }
            return rows.flatMapErrorThrowing { [self] error in
                throw Database.clientError(error, counting: stats.backend, as: "load")
            }
        }
    }

    /// A finished transaction's time, and its commands in the slow log when it was slow (`MULTI`'s commands as
    /// the statement, one per line).
    private func recordTransaction(_ steps: [TransactionStep], took: UInt64, client: ClientRecord?) {
        stats.backend.transaction.record(nanoseconds: took)
        guard slowLog.isSlow(took) else { return }
        let commands = steps.map(\.kind.name).joined(separator: " ")
        slowLog.record(
            operation: "TRANSACTION", type: nil, sql: "MULTI \(commands) EXEC", parameters: [], nanoseconds: took,
            client: client, unixMicroseconds: clock.wallClockMicroseconds())
    }

    /// What one of a transaction's statements made stale.
    private func invalidation(of write: TransactionRun.Write) -> Invalidation {
        if write.changesSchema { return Invalidation(everything: true) }
        return invalidation(after: write.tablesWritten, keyed: write.keyed)
    }
}
