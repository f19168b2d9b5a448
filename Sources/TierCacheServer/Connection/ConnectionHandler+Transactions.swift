import NIOCore
import TierCacheBackend
import TierCachePolicy
import TierCacheProtocol
import TierCacheStats

/// `MULTI`, `EXEC`, `DISCARD`, `WATCH` and `UNWATCH` as Redis has them: after `MULTI` each command is checked and
/// queued (`+QUEUED`), or refused, which makes `EXEC` run nothing (`-EXECABORT`); `EXEC` runs the queue in one
/// database transaction (`Proxy.runTransaction`) and answers an array of the replies, or nil when a watched key's
/// row changed since `WATCH`.
extension ConnectionHandler {
    func multi() -> Bool {
        if let error = session.transaction.multi() {
            writeError(error)
        } else {
            out.writeRESPSimpleString(staticString: "OK")
        }
        return true
    }

    func discard() -> Bool {
        if let error = session.transaction.discard() {
            writeError(error)
        } else {
            out.writeRESPSimpleString(staticString: "OK")
        }
        return true
    }

    /// `WATCH key…`: reads each key's row from the database now (not from a cache, which may be behind it), to be
    /// compared with the row inside `EXEC`'s transaction. Keys of no type are accepted and never change.
    func watch(started: UInt64, context: ChannelHandlerContext) -> Bool {
        if let error = session.transaction.mayWatch(arguments.count - 1) {
            writeError(error)
            return true
        }
        let targets = arguments.dropFirst().compactMap { key in
            isQueryKey(key) ? nil : policy.route(key).map { TransactionStep.owned($0, key: key) }
        }
        guard !targets.isEmpty else {
            out.writeRESPSimpleString(staticString: "OK")
            return true
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let reply = proxy.writes.snapshot(targets, on: context.eventLoop).map { snapshots in
            bound.value.session.transaction.watched(
                zip(targets, snapshots).map { WatchedKey(target: $0, snapshot: $1) })
            var reply = ByteBuffer()
            reply.writeRESPSimpleString(staticString: "OK")
            return reply
        }
        awaitReply(reply, command: .watch, started: started, context: context)
        return false
    }

    func unwatch() -> Bool {
        session.transaction.unwatch()
        out.writeRESPSimpleString(staticString: "OK")
        return true
    }

    func exec(started: UInt64, context: ChannelHandlerContext) -> Bool {
        let steps: [TransactionStep]
        let watched: [WatchedKey]
        switch session.transaction.exec() {
        case .notQueuing:
            writeError(ProxyError(.generic, "EXEC without MULTI"))
            return true
        case .aborted:
            writeError(ProxyError(.execAbort, "Transaction discarded because of previous errors."))
            return true
        case .failed(let queued, let index, let error):
            proxy.stats.errorReplies.increment()
            Self.writeRolledBack(queued, failed: index, error: error, into: &out)
            return true
        case .answerQueued(let queued):
            out.writeRESPArrayHeader(count: queued.count)
            for case .reply(_, var reply) in queued { out.writeBuffer(&reply) }
            return true
        case .run(let queued, let keys):
            steps = queued
            watched = keys
        }
        let version = session.version
        let reply = proxy.writes.runTransaction(
            steps, watched: watched, version: version, client: record, on: context.eventLoop)
            .map { outcome in
                var array = ByteBuffer()
                switch outcome {
                case .watchedKeyChanged:
                    array.writeRESPNullArray(version)  // nothing ran
                case .committed(let replies):
                    array.writeRESPArrayHeader(count: replies.count)
                    for var reply in replies { array.writeBuffer(&reply) }
                }
                return array
            }
            .recover { error in
                // Nothing was written: every reply says so, the failing command's with its own error.
                var array = ByteBuffer()
                if let failed = error as? TransactionStepFailed {
                    Self.writeRolledBack(steps, failed: failed.index, error: failed.error, into: &array)
                } else {
                    let failure = error as? ProxyError ?? ProxyError(.generic, "\(error)")
                    array.writeRESPArrayHeader(count: steps.count)
                    for _ in steps { array.writeRESPError("\(failure.replyText) (transaction not run)") }
                }
                return array
            }
        awaitReply(reply, command: .exec, started: started, context: context)
        return false
    }

    /// `EXEC`'s reply when nothing was written because step `failed` failed: an array (what clients expect of an
    /// `EXEC` that ran) in which that step has its error and every other step says it was rolled back with it. No
    /// element claims success, so no client reports a write that did not happen.
    static func writeRolledBack(
        _ steps: [TransactionStep],
        failed: Int,
        error: ProxyError,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeRESPArrayHeader(count: steps.count)
        for index in steps.indices {
            if index == failed {
                buffer.writeRESPError("\(error.replyText) (the transaction was rolled back: nothing was written)")
            } else {
                buffer.writeRESPError(
                    "EXECABORT Transaction rolled back, nothing was written: command \(failed + 1) of the "
                        + "transaction (\(steps[failed].kind.name)) failed")
            }
        }
    }

    /// Marks the open transaction refused, after a command was refused while queuing.
    func refuseQueuedTransaction() {
        session.transaction.refuse()
    }

    /// Queues the command in `arguments` (a known one, with a valid arity): answers `+QUEUED`, or the error (and
    /// marks the transaction refused) for a command that may not be queued, as Redis does. A command that can only
    /// fail when run (a key of no type, `SET` options) is queued as Redis would queue it, and makes `EXEC` run
    /// nothing and say why.
    func queue(_ kind: CommandKind) {
        guard kind.mayBeQueued else {
            refuse(ProxyError(.generic, "Command not allowed inside a transaction"))
            return
        }
        if kind == .sqlExec, !proxy.configuration.sqlExec {
            refuse(ProxyError.sqlExecOff)
            return
        }
        // A QUERY's tables are known only once it ran, inside EXEC: too late to refuse it alone.
        if kind == .query || kind == .sqlQuery, access.groups != nil {
            refuse(
                ProxyError(
                    .noPermission,
                    "this user has no permissions to run '\(kind.name.lowercased())' inside MULTI: a user limited to some "
                        + "types runs QUERY outside transactions, where its tables are checked"))
            return
        }
        if let error = session.transaction.admit(size: arguments.reduce(0) { $0 + $1.readableBytes }) {
            writeError(error)
            return
        }
        let step: TransactionStep
        switch kind {
        case .get:
            guard let target = queuedTarget(arguments[1], kind) else { return }
            step = .get(target)
        case .mget, .exists:
            let targets = arguments.dropFirst().map { key in
                isQueryKey(key) ? nil : policy.route(key).map { TransactionStep.owned($0, key: key) }
            }
            step = kind == .mget ? .mget(targets) : .exists(targets)
        case .set:
            let options: SetOptions
            switch SetOptions.parse(arguments[3...], argument: argument) {
            case .failure(let error):
                queueFailure(kind, error)
                return
            case .success(let parsed):
                options = parsed
            }
            guard let target = queuedTarget(arguments[1], kind) else { return }
            guard target.type.policy.store != nil else {
                queueFailure(kind, ProxyError.missingStatement("store", of: target.type, for: "SET"))
                return
            }
            step = .set(target, value: ByteBuffer(bytes: arguments[2].readableBytesView), options: options)
        case .del:
            var targets: [TransactionStep.Target] = []
            for key in arguments.dropFirst() {
                guard let target = queuedTarget(key, kind) else { return }
                guard target.type.policy.delete != nil else {
                    queueFailure(kind, ProxyError.missingStatement("delete", of: target.type, for: "DEL"))
                    return
                }
                targets.append(target)
            }
            step = .del(targets)
        case .query, .sqlQuery, .sqlExec:
            guard let sql = text(arguments[1]) else {
                queueFailure(kind, ProxyError(.wrongArguments, "\(kind.name) statement is not valid UTF-8"))
                return
            }
            let parameters = arguments[2...].map(SQLValue.init(parameter:))
            step = kind == .sqlExec ? .sqlExec(sql: sql, parameters: parameters) : .query(sql: sql, parameters: parameters)
        case .ping, .echo, .unwatch:
            // Answered into a buffer of their own, to go into EXEC's array. (UNWATCH in a transaction does nothing
            // more: EXEC unwatches anyway.)
            var reply = ByteBuffer()
            swap(&reply, &out)
            switch kind {
            case .ping: _ = ping()
            case .echo: _ = echo()
            default: out.writeRESPSimpleString(staticString: "OK")
            }
            swap(&reply, &out)
            step = .reply(kind, reply)
        default:
            refuse(ProxyError(.generic, "Command not allowed inside a transaction"))
            return
        }
        session.transaction.append(step)
        out.writeRESPSimpleString(staticString: "QUEUED")
    }

    /// A key's type and id with their own bytes, or nil after queuing the failure of a key of no type.
    private func queuedTarget(_ key: ByteBuffer, _ kind: CommandKind) -> TransactionStep.Target? {
        guard !isQueryKey(key), let target = policy.route(key) else {
            queueFailure(kind, noTypeError(key))
            return nil
        }
        return TransactionStep.owned(target, key: key)
    }

    /// Queues a command that can only fail: `EXEC` will answer its error and run nothing.
    private func queueFailure(_ kind: CommandKind, _ error: ProxyError) {
        session.transaction.append(.failure(kind, error))
        out.writeRESPSimpleString(staticString: "QUEUED")
    }

    private func refuse(_ error: ProxyError) {
        writeError(error)
        refuseQueuedTransaction()
    }
}
