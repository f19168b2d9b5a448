import TierCacheBackend
import TierCacheProtocol

/// A key under `WATCH`: its row when it was watched.
struct WatchedKey: Sendable {
    var target: TransactionStep.Target
    var snapshot: ResultSet
}

/// What a client queued after `MULTI`.
struct QueuedTransaction {
    var steps: [TransactionStep] = []
    /// A command was refused while queuing: `EXEC` then runs nothing (`EXECABORT`), as in Redis.
    var refused = false
    /// Bytes of arguments queued so far: queued commands hold their own copies, outside the input budget.
    var bytes = 0

    /// Most commands and bytes one transaction may queue: it runs holding the database's write lock, and its
    /// queue is memory no other limit counts.
    static let maxSteps = 10_000
    static let maxBytes = 64 * 1024 * 1024
}

/// What the proxy knows about one client connection.
struct ClientSession {
    let id: Int64
    var version: RESPVersion = .v2
    /// The user the connection authenticated as (or `default`, when it needs no password); nil before AUTH.
    var user: String?
    var isAuthenticated: Bool { user != nil }
    var name: String?
    /// `MULTI`/`EXEC`/`WATCH`.
    var transaction = TransactionState()

    init(id: Int64, user: String?) {
        self.id = id
        self.user = user
    }
}
