import Synchronization

/// What `CLIENT LIST` and `CLIENT INFO` show of one connection, readable from any connection. Its connection writes
/// it: at most once per read batch for the last command (`noteBatch`), and when the client's name, protocol or
/// transaction changes.
final class ClientRecord: Sendable {
    let id: Int64
    let address: String
    let localAddress: String
    let connectedAt: UInt64
    private let lastCommandAt: Atomic<UInt64>
    /// `CommandKind.rawValue` of the last command, -1 before the first.
    private let lastCommand = Atomic<Int>(-1)
    /// Commands queued after `MULTI`; -1 outside a transaction.
    private let queued = Atomic<Int>(-1)
    private let protocolVersion = Atomic<Int>(2)
    /// The client's name and its user's (nil before authentication).
    private let names = Mutex<(client: String?, user: String?)>((nil, nil))

    init(id: Int64, address: String, localAddress: String, now: UInt64) {
        self.id = id
        self.address = address
        self.localAddress = localAddress
        self.connectedAt = now
        self.lastCommandAt = Atomic(now)
    }

    func noteBatch(at time: UInt64, lastCommand kind: CommandKind?) {
        lastCommandAt.store(time, ordering: .relaxed)
        if let kind { lastCommand.store(kind.rawValue, ordering: .relaxed) }
    }

    func noteSession(name: String?, user: String?, version: Int, queued count: Int?) {
        names.withLock { $0 = (name, user) }
        protocolVersion.store(version, ordering: .relaxed)
        queued.store(count ?? -1, ordering: .relaxed)
    }

    var name: String? { names.withLock { $0.client } }
    var user: String? { names.withLock { $0.user } }

    /// One line of `CLIENT LIST`, with Redis 7's fields (those TierCache has no counterpart for are 0 or empty).
    func line(now: UInt64) -> String {
        let age = (now &- connectedAt) / 1_000_000_000
        let idle = (now &- lastCommandAt.load(ordering: .relaxed)) / 1_000_000_000
        let multi = queued.load(ordering: .relaxed)
        let command = CommandKind(rawValue: lastCommand.load(ordering: .relaxed))?.name.lowercased() ?? "NULL"
        return "id=\(id) addr=\(address) laddr=\(localAddress) fd=-1 name=\(name ?? "") age=\(age) idle=\(idle) "
            + "flags=\(multi >= 0 ? "x" : "N") db=0 sub=0 psub=0 ssub=0 multi=\(multi) qbuf=0 qbuf-free=0 "
            + "argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=\(command) user=\(user ?? "") "
            + "redir=-1 resp=\(protocolVersion.load(ordering: .relaxed))\n"
    }
}
