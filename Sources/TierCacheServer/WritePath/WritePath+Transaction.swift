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

/// `MULTI … EXEC`: the queued commands run in one database transaction, so their writes commit all together or not
/// at all, and a read in it sees the transaction's earlier writes. Reads in a transaction go to the database, not
/// the cache tiers, and fill nothing: what they see may never commit. After the commit the transaction's writes
/// invalidate as one write, before the client hears the replies.
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
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<TransactionOutcome> {
        let origin: StatementOrigin = steps.contains(where: \.runsClientSQL) ? .client : .policy
        return database.run(eventLoop, statements: origin, writes: true) { [self] in
            let started = clock.monotonicNanoseconds()
            var invalidation = Invalidation()
            var failedStep: (index: Int, error: BackendError)?
            let outcome: TransactionOutcome
            do throws(BackendError) {
                outcome = try database.backend.inTransaction { transaction throws(BackendError) -> TransactionOutcome in
                    for key in watched where try load(key.target, in: transaction) != key.snapshot {
                        return .watchedKeyChanged
                    }
                    var replies: [ByteBuffer] = []
                    replies.reserveCapacity(steps.count)
                    for (index, step) in steps.enumerated() {
                        do throws(BackendError) {
                            replies.append(try run(step, in: transaction, version: version, invalidation: &invalidation))
                        } catch {
                            failedStep = (index, error)
                            throw error  // rolls the transaction back
                        }
                    }
                    return .committed(replies)
                }
            } catch {
                stats.backend.errors.increment()
                guard let failedStep else { throw ProxyError(error) }
                throw TransactionStepFailed(index: failedStep.index, error: ProxyError(failedStep.error))
            }
            stats.backend.transaction.record(nanoseconds: clock.monotonicNanoseconds() &- started)
            apply(invalidation)
            return (outcome, invalidation)
        }.flatMap { [self] (outcome: TransactionOutcome, invalidation: Invalidation) in
            publish(invalidation, on: eventLoop).map { outcome }
        }
    }

    /// Each key's row as the database holds it now, for `WATCH`.
    func snapshot(_ targets: [TransactionStep.Target], on eventLoop: any EventLoop) -> EventLoopFuture<[ResultSet]> {
        database.run(eventLoop, statements: .policy) { [self] in
            do throws(BackendError) {
                return try targets.map { target throws(BackendError) in
                    try database.backend.read(target.type.policy.load, parameters: [SQLValue(parameter: target.id)]).resultSet
                }
            } catch {
                stats.backend.errors.increment()
                throw ProxyError(error)
            }
        }
    }

    /// Runs one step inside the transaction; adds what it wrote to `invalidation`.
    private func run(
        _ step: TransactionStep,
        in transaction: any BackendTransaction,
        version: RESPVersion,
        invalidation: inout Invalidation
    ) throws(BackendError) -> ByteBuffer {
        var reply = ByteBuffer()
        switch step {
        case .get(let target):
            reply = encoded(try value(target, in: transaction), version)
        case .mget(let targets):
            reply.writeRESPArrayHeader(count: targets.count)
            for target in targets {
                var cached = ResultEncoding.nullReply
                if let target { cached = try value(target, in: transaction) }
                var value = encoded(cached, version)
                reply.writeBuffer(&value)
            }
        case .exists(let targets):
            var present = 0
            for case let target? in targets {
                let loaded = try value(target, in: transaction)
                if !loaded.resp2.withUnsafeReadableBytes(ResultEncoding.isNull) { present += 1 }
            }
            reply.writeRESPInteger(present)
        case .set(let target, let newValue, let options):
            guard let store = target.type.policy.store else {
                // Checked when the command was queued; a reload may have dropped the statement since.
                throw BackendError(.notAllowed, ProxyError.missingStatement("store", of: target.type, for: "SET").message)
            }
            var old: CachedReply?
            if options.needsTransaction {
                old = try value(target, in: transaction)
            }
            let exists = old.map { !$0.resp2.withUnsafeReadableBytes(ResultEncoding.isNull) } ?? false
            let allowed =
                switch options.condition {
                case nil: true
                case .ifAbsent?: !exists
                case .ifPresent?: exists
                }
            if allowed {
                let parameters = [SQLValue(parameter: target.id), SQLValue(parameter: newValue)]
                let written = try transaction.write(store, parameters: parameters)
                invalidation.merge(self.invalidation(after: written.tablesWritten, keyed: (target.type, target.key)))
            }
            if options.returnsOld, let old {
                reply = encoded(old, version)
            } else if allowed {
                reply.writeRESPSimpleString(staticString: "OK")
            } else {
                reply.writeRESPNull(version)  // not set: Redis' nil
            }
        case .del(let targets):
            var deleted = 0
            for target in targets {
                guard let delete = target.type.policy.delete else {
                    throw BackendError(
                        .notAllowed, ProxyError.missingStatement("delete", of: target.type, for: "DEL").message)
                }
                let written = try transaction.write(delete, parameters: [SQLValue(parameter: target.id)])
                invalidation.merge(self.invalidation(after: written.tablesWritten, keyed: (target.type, target.key)))
                deleted += written.changes
            }
            reply.writeRESPInteger(deleted)
        case .query(let sql, let parameters):
            let result = try transaction.read(sql, parameters: parameters)
            reply = encoded(ResultEncoding.resultSet(result.resultSet), version)
        case .sqlExec(let sql, let parameters):
            let written = try transaction.write(sql, parameters: parameters)
            if !written.isReadOnly, written.tablesWritten.isEmpty {
                invalidation.merge(Invalidation(everything: true))  // a schema change
            } else {
                invalidation.merge(self.invalidation(after: written.tablesWritten, keyed: nil))
            }
            reply.writeRESPInteger(written.changes)
        case .reply(_, let bytes):
            reply = bytes
        case .failure(_, let error):
            // Answered without running the transaction (`ConnectionHandler.exec`); never sent here.
            throw BackendError(.notAllowed, error.message)
        }
        return reply
    }

    /// A key's value as the transaction sees it, from its type's `load`.
    private func value(_ target: TransactionStep.Target, in transaction: any BackendTransaction) throws(BackendError)
        -> CachedReply
    {
        let rows = try load(target, in: transaction)
        return rows.rows.isEmpty ? ResultEncoding.nullReply : ResultEncoding.keyedValue(rows)
    }

    /// A key's row as the transaction sees it.
    private func load(_ target: TransactionStep.Target, in transaction: any BackendTransaction) throws(BackendError)
        -> ResultSet
    {
        try transaction.read(target.type.policy.load, parameters: [SQLValue(parameter: target.id)]).resultSet
    }

    private func encoded(_ reply: CachedReply, _ version: RESPVersion) -> ByteBuffer {
        version == .v3 ? (reply.resp3 ?? reply.resp2) : reply.resp2
    }
}
