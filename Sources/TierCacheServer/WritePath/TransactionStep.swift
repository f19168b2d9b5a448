import NIOCore
import TierCacheBackend

/// One command queued after `MULTI`, checked and routed when it was queued (so `EXEC` runs nothing that could have
/// been refused beforehand), holding its own copies of the bytes it needs.
enum TransactionStep: Sendable {
    /// A keyed read: the type's `load`, inside the transaction.
    typealias Target = (type: DataTypeState, id: ByteBuffer, key: ByteBuffer)

    case get(Target)
    /// nil for a key of no type, which reads as nil.
    case mget([Target?])
    /// Keys of no type count as absent.
    case exists([Target?])
    case set(Target, value: ByteBuffer, options: SetOptions = SetOptions())
    case del([Target])
    case query(sql: String, parameters: [SQLValue])
    case sqlExec(sql: String, parameters: [SQLValue])
    /// A command that needs no database (`PING`, `ECHO`, `UNWATCH`): its reply, made when it was queued.
    case reply(CommandKind, ByteBuffer)
    /// A command that can only fail (a key of no type, `SET` options): queued as Redis would queue it, it makes
    /// `EXEC` run nothing and say why.
    case failure(CommandKind, ProxyError)

    /// The command, for an error that names the step that failed.
    var kind: CommandKind {
        switch self {
        case .get: .get
        case .mget: .mget
        case .exists: .exists
        case .set: .set
        case .del: .del
        case .query: .query
        case .sqlExec: .sqlExec
        case .reply(let kind, _), .failure(let kind, _): kind
        }
    }

    /// Whether it runs a client's own SQL (which decides how a failure counts for the breaker).
    var runsClientSQL: Bool {
        switch self {
        case .query, .sqlExec: true
        default: false
        }
    }

    /// The error of a step that can only fail.
    var failure: ProxyError? {
        if case .failure(_, let error) = self { return error }
        return nil
    }

    var needsDatabase: Bool {
        if case .reply = self { return false }
        return true
    }

    /// A copy of a request's bytes: the queue outlives the read buffer its arguments are slices of.
    static func owned(_ target: (type: DataTypeState, id: ByteBuffer), key: ByteBuffer) -> Target {
        let ownedKey = ByteBuffer(bytes: key.readableBytesView)
        let idLength = target.id.readableBytes
        let ownedID =
            ownedKey.getSlice(at: ownedKey.readerIndex + ownedKey.readableBytes - idLength, length: idLength)
            ?? ByteBuffer(bytes: target.id.readableBytesView)
        return (target.type, ownedID, ownedKey)
    }
}
