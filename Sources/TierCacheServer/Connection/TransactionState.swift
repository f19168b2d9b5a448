/// A connection's `MULTI`/`EXEC`/`WATCH` state, as Redis has it: idle, or queuing commands after `MULTI`; and the
/// keys under `WATCH` in either. A value that decides each of those commands' answer; the handler performs them
/// (reads the watched rows, runs `EXEC` in the database) and reports back. Value-tested in `TransactionStateTests`.
struct TransactionState {
    enum Phase {
        case idle
        /// Between `MULTI` and `EXEC`/`DISCARD`: the commands queued so far.
        case queuing(QueuedTransaction)
    }

    private(set) var phase = Phase.idle
    /// Keys under `WATCH`, with their rows as the database held them then; `EXEC` runs nothing if any changed.
    private(set) var watched: [WatchedKey] = []

    /// Most keys one connection may watch: each is read again inside `EXEC`'s transaction, which holds the write
    /// lock.
    static let maxWatchedKeys = 1000

    var isQueuing: Bool {
        if case .queuing = phase { return true }
        return false
    }

    /// Commands queued so far (for `CLIENT LIST`); nil outside `MULTI`.
    var queuedCount: Int? {
        if case .queuing(let queued) = phase { return queued.steps.count }
        return nil
    }

    // MARK: Events

    /// `MULTI`.
    mutating func multi() -> ProxyError? {
        guard case .idle = phase else { return ProxyError(.generic, "MULTI calls can not be nested") }
        phase = .queuing(QueuedTransaction())
        return nil
    }

    /// `DISCARD`: the queue and the watched keys go.
    mutating func discard() -> ProxyError? {
        guard case .queuing = phase else { return ProxyError(.generic, "DISCARD without MULTI") }
        reset()
        return nil
    }

    /// Whether `WATCH` of `count` more keys may start (its rows are read, then ``watched(_:)``).
    func mayWatch(_ count: Int) -> ProxyError? {
        if isQueuing { return ProxyError(.generic, "WATCH inside MULTI is not allowed") }
        guard watched.count + count <= Self.maxWatchedKeys else {
            return ProxyError(.generic, "too many watched keys: at most \(Self.maxWatchedKeys) per connection")
        }
        return nil
    }

    /// `WATCH`'s rows were read.
    mutating func watched(_ keys: [WatchedKey]) {
        watched += keys
    }

    /// `UNWATCH`.
    mutating func unwatch() {
        watched.removeAll()
    }

    /// Room for a command of `size` argument bytes in the queue: nil when it may be queued, else why not (and
    /// the transaction is then refused, as Redis refuses it after any refused command).
    mutating func admit(size: Int) -> ProxyError? {
        guard case .queuing(var queued) = phase else { return ProxyError(.generic, "not in a transaction") }
        guard queued.steps.count < QueuedTransaction.maxSteps, queued.bytes + size <= QueuedTransaction.maxBytes else {
            queued.refused = true
            phase = .queuing(queued)
            return ProxyError(
                .generic,
                "transaction too large: at most \(QueuedTransaction.maxSteps) commands and "
                    + "\(QueuedTransaction.maxBytes / 1_048_576) MB of arguments")
        }
        queued.bytes += size
        phase = .queuing(queued)
        return nil
    }

    /// A command (admitted) joins the queue.
    mutating func append(_ step: TransactionStep) {
        guard case .queuing(var queued) = phase else { return }
        phase = .idle  // the queue is uniquely held while it grows
        queued.steps.append(step)
        phase = .queuing(queued)
    }

    /// A command was refused while queuing: `EXEC` will run nothing (`EXECABORT`).
    mutating func refuse() {
        guard case .queuing(var queued) = phase else { return }
        queued.refused = true
        phase = .queuing(queued)
    }

    /// What `EXEC` does.
    enum Execution {
        /// `EXEC without MULTI`.
        case notQueuing
        /// A command was refused while queuing: nothing runs.
        case aborted
        /// A queued command can only fail: nothing runs; the reply names it.
        case failed(steps: [TransactionStep], index: Int, error: ProxyError)
        /// Nothing needs the database and nothing is watched: the replies made when queuing.
        case answerQueued([TransactionStep])
        /// Run in one database transaction.
        case run([TransactionStep], watched: [WatchedKey])
    }

    /// `EXEC`: ends the transaction and unwatches, whatever it then does.
    mutating func exec() -> Execution {
        guard case .queuing(let queued) = phase else { return .notQueuing }
        let watched = self.watched
        reset()
        if queued.refused { return .aborted }
        let steps = queued.steps
        if let index = steps.firstIndex(where: { $0.failure != nil }), let error = steps[index].failure {
            return .failed(steps: steps, index: index, error: error)
        }
        guard steps.contains(where: \.needsDatabase) || !watched.isEmpty else { return .answerQueued(steps) }
        return .run(steps, watched: watched)
    }

    /// `RESET`, or the end of a transaction: idle, nothing watched.
    mutating func reset() {
        phase = .idle
        watched.removeAll()
    }
}
