import TierCacheProtocol

/// What a client queued after `MULTI`.
struct QueuedTransaction {
    var steps: [TransactionStep] = []
    /// A command was refused while queuing: `EXEC` then runs nothing (`EXECABORT`), as in Redis.
    var refused = false
}

/// What the proxy knows about one client connection.
struct ClientSession {
    let id: Int64
    var version: RESPVersion = .v2
    var isAuthenticated: Bool
    var name: String?
    /// Between `MULTI` and `EXEC`/`DISCARD`: the commands queued so far.
    var transaction: QueuedTransaction?

    init(id: Int64, requiresPassword: Bool) {
        self.id = id
        self.isAuthenticated = !requiresPassword
    }
}
