import Logging
import NIOCore
import TierCacheProtocol
import TierCacheStats

/// Command dispatch: name → arity check → authentication → the command's handler.
extension ConnectionHandler {
    /// Executes the decoded command in `arguments`. `now` is the batch's clock reading.
    func execute(now started: UInt64, context: ChannelHandlerContext) {
        guard let kind = arguments[0].withUnsafeReadableBytes(CommandKind.lookup(bytes:)) else {
            proxy.stats.commandsProcessed.increment()
            unknownCommand()
            refuseQueuedTransaction()
            return
        }
        lastKind = kind
        guard kind.accepts(argumentCount: arguments.count) else {
            answered(kind)
            writeError(ProxyError.wrongArity(kind.name))
            refuseQueuedTransaction()
            return
        }
        if !session.isAuthenticated, kind != .auth, kind != .hello, kind != .quit, kind != .reset {
            answered(kind)
            proxy.stats.rejectedAuth.increment()
            writeError(ProxyError(.noAuth, "Authentication required."))
            return
        }
        if session.transaction.isQueuing, !kind.actsInTransaction {
            answered(kind)
            queue(kind)
            return
        }
        let finished: Bool
        switch kind {
        case .get: finished = get(started: started, context: context)
        case .mget: finished = mget(started: started, context: context)
        case .exists: finished = exists(started: started, context: context)
        case .set: finished = set(started: started, context: context)
        case .del: finished = del(started: started, context: context)
        case .query, .sqlQuery: finished = query(kind, started: started, context: context)
        case .sqlExec: finished = sqlExec(started: started, context: context)
        case .multi: finished = multi()
        case .exec: finished = exec(started: started, context: context)
        case .discard: finished = discard()
        case .watch: finished = watch(started: started, context: context)
        case .unwatch: finished = unwatch()
        case .reset: finished = reset()
        case .ping: finished = ping()
        case .echo: finished = echo()
        case .quit: finished = quit(context: context)
        case .hello: finished = hello()
        case .auth: finished = auth()
        case .command: finished = command()
        case .client: finished = client()
        case .config: finished = config()
        case .select: finished = select()
        case .info: finished = info()
        case .dbsize: finished = dbsize()
        case .time: finished = time()
        case .ttl: finished = ttl(started: started, milliseconds: false)
        case .pttl: finished = ttl(started: started, milliseconds: true)
        case .type: finished = valueFact(.type, command: kind, started: started, context: context)
        case .strlen: finished = valueFact(.stringLength, command: kind, started: started, context: context)
        case .hlen: finished = valueFact(.hashLength, command: kind, started: started, context: context)
        case .scan: finished = scan(started: started)
        case .keys: finished = keys(started: started)
        case .stats: finished = stats()
        case .policy: finished = policy(started: started, context: context)
        case .warm: finished = warm(context: context)
        }
        // Commands that went to the backend record their latency when their reply arrives.
        if finished { answered(kind) }
    }

    @inline(__always)
    private func answered(_ kind: CommandKind) {
        if answeredInBatch[kind.rawValue] == 0 { answeredKinds.append(kind) }
        answeredInBatch[kind.rawValue] += 1
    }

    /// Redis' wording, so clients and people recognise it; a Redis command TierCache refuses on purpose gets the
    /// reason instead. Counted by name, logged once per name.
    private func unknownCommand() {
        let name = printable(arguments[0]).uppercased()
        if proxy.refusals.record(name) {
            logger.notice("refused a command TierCache does not have", metadata: ["command": "\(name)"])
        }
        if let reason = Self.refusedOnPurpose[name] {
            writeError(ProxyError(.generic, "\(name) is not supported: \(reason)"))
            return
        }
        var message = "unknown command '\(printable(arguments[0]))', with args beginning with:"
        for argument in arguments.dropFirst().prefix(8) {
            message += " '\(printable(argument))'"
        }
        writeError(ProxyError(.generic, message))
    }

    /// Redis commands that would mean something else here, with the reason they are refused.
    static let refusedOnPurpose: [String: String] = {
        let expiry = "an entry's life comes from its data type's policy (ttl in ttl-policies/), not from clients"
        return [
            "EXPIRE": expiry, "PEXPIRE": expiry, "EXPIREAT": expiry, "PEXPIREAT": expiry, "PERSIST": expiry,
            "GETEX": expiry, "SETEX": expiry + "; use SET key value", "PSETEX": expiry + "; use SET key value",
            "FLUSHALL": "TierCache caches a database, whose rows it does not delete; entries expire by their TTL",
            "FLUSHDB": "TierCache caches a database, whose rows it does not delete; entries expire by their TTL",
        ]
    }()

    /// An argument for an error message: at most 64 bytes, non-printable bytes escaped.
    func printable(_ buffer: ByteBuffer) -> String {
        TierCacheServer.printable(buffer.readableBytesView)
    }

    /// An argument as text (SQL, subcommands), or nil when it is not UTF-8.
    func text(_ buffer: ByteBuffer) -> String? {
        String(validating: buffer.readableBytesView, as: UTF8.self)
    }

    /// Whether an argument equals an ASCII word, ignoring case.
    func argument(_ index: Int, is word: StaticString) -> Bool {
        guard index < arguments.count else { return false }
        let argument = arguments[index]
        guard argument.readableBytes == word.utf8CodeUnitCount else { return false }
        return argument.withUnsafeReadableBytes { bytes in
            word.withUTF8Buffer { expected in
                zip(bytes, expected).allSatisfy { lowercase($0) == lowercase($1) }
            }
        }
    }
}

@inline(__always)
private func lowercase(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}
