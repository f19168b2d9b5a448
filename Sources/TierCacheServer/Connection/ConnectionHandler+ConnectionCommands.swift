import Logging
import NIOCore
import TierCacheProtocol
import TierCacheStats
import TierCacheSupport

/// PING, ECHO, QUIT, HELLO, AUTH, COMMAND, CLIENT, CONFIG and SELECT: what Redis clients send besides data
/// commands, answered as Redis does so that redis-cli, redis-py and redis-benchmark work unchanged.
extension ConnectionHandler {
    func ping() -> Bool {
        if arguments.count > 2 {
            writeError(ProxyError.wrongArity("ping"))
        } else if arguments.count == 2 {
            out.writeRESPBulkString(arguments[1])
        } else {
            out.writeRESPSimpleString(staticString: "PONG")
        }
        return true
    }

    func echo() -> Bool {
        out.writeRESPBulkString(arguments[1])
        return true
    }

    func quit(context: ChannelHandlerContext) -> Bool {
        out.writeRESPSimpleString(staticString: "OK")
        close(context: context)
        return true
    }

    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
    func hello(started: UInt64, context: ChannelHandlerContext) -> Bool {
        var version = session.version
        var index = 1
        if arguments.count > 1 {
            guard let text = text(arguments[1]), let requested = Int(text) else {
                writeError(ProxyError(.generic, "Protocol version is not an integer or out of range"))
                return true
            }
            switch requested {
            case 2: version = .v2
            case 3: version = .v3
            default:
                writeError(ProxyError(.noProto, "unsupported protocol version \(requested); TierCache speaks 2 and 3"))
                return true
            }
            index = 2
        }
        var name = session.name
        var authenticatedAs: AccessUser?
        while index < arguments.count {
            if argument(index, is: "AUTH"), index + 2 < arguments.count {
                guard let user = authenticate(user: arguments[index + 1], password: arguments[index + 2]) else {
                    return refuseAuthentication(.hello, user: arguments[index + 1], started: started, context: context)
                }
                authenticatedAs = user
                index += 3
            } else if argument(index, is: "SETNAME"), index + 1 < arguments.count {
                guard let valid = clientName(arguments[index + 1]) else { return true }
                name = valid
                index += 2
            } else {
                writeError(ProxyError(.generic, "Syntax error in HELLO option '\(printable(arguments[index]))'"))
                return true
            }
        }
        guard session.isAuthenticated || authenticatedAs != nil else {
            writeError(
                ProxyError(
                    .noAuth,
                    "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH "
                        + "<user> <pass> option can be used to authenticate the client and select the RESP protocol "
                        + "version at the same time"
                )
            )
            return true
        }
        session.version = version
        if let authenticatedAs { didAuthenticate(as: authenticatedAs) }
        session.name = name
        out.writeRESPMapHeader(count: 7, version)
        out.writeRESPBulkString("server")
        out.writeRESPBulkString("tiercache")
        out.writeRESPBulkString("version")
        out.writeRESPBulkString(TierCacheVersion.string)
        out.writeRESPBulkString("proto")
        out.writeRESPInteger(version == .v3 ? 3 : 2)
        out.writeRESPBulkString("id")
        out.writeRESPInteger(session.id)
        out.writeRESPBulkString("mode")
        out.writeRESPBulkString("standalone")
        out.writeRESPBulkString("role")
        out.writeRESPBulkString("master")
        out.writeRESPBulkString("modules")
        out.writeRESPArrayHeader(count: 0)
        return true
    }

    /// `AUTH password` (the `default` user's) or `AUTH user password`.
    func auth(started: UInt64, context: ChannelHandlerContext) -> Bool {
        guard arguments.count <= 3 else {
            writeError(ProxyError(.generic, "syntax error"))
            return true
        }
        guard arguments.count == 3 || proxy.users.user(named: "default")?.noPassword != true else {
            writeError(
                ProxyError(
                    .generic,
                    "AUTH <password> called without any password configured for the default user. "
                        + "Are you sure your configuration is correct?"
                )
            )
            return true
        }
        let user = arguments.count == 3 ? arguments[1] : ByteBuffer(string: "default")
        guard let authenticated = authenticate(user: user, password: arguments[arguments.count - 1]) else {
            return refuseAuthentication(.auth, user: user, started: started, context: context)
        }
        didAuthenticate(as: authenticated)
        out.writeRESPSimpleString(staticString: "OK")
        return true
    }

    /// The user, when the password is one of its own (any, for a `nopass` user such as `default` without
    /// `--requirepass`, as Redis accepts `HELLO … AUTH default x`); nil for an unknown or disabled user. The
    /// password is hashed even for an unknown user, so the time taken does not tell which users exist.
    private func authenticate(user: ByteBuffer, password: ByteBuffer) -> AccessUser? {
        let name = String(decoding: user.readableBytesView, as: UTF8.self)
        guard let found = proxy.users.user(named: name) else {
            _ = AccessUser.digest(Array(password.readableBytesView))
            return nil
        }
        return found.accepts(password: password) ? found : nil
    }

    /// A wrong password: counted, logged (the user, the address, never the password) and answered WRONGPASS — at
    /// once for an address' first failures in a minute, later after a growing wait (`AuthFailures`). Returns
    /// whether the answer is written (false: it comes after the wait).
    private func refuseAuthentication(
        _ command: CommandKind, user: ByteBuffer, started: UInt64, context: ChannelHandlerContext
    ) -> Bool {
        proxy.stats.rejectedAuth.increment()
        let address = record?.address ?? "?"
        let host = context.channel.remoteAddress?.ipAddress ?? address
        let (failures, delay) = proxy.authFailures.failed(from: host, now: clock.monotonicNanoseconds())
        if failures <= AuthFailures.free || failures % 100 == 0 {
            logger.warning(
                "authentication failed",
                metadata: [
                    "user": "\(printable(user))", "client": "\(address)",
                    "failures_from_address_this_minute": "\(failures)",
                ])
        }
        let error = ProxyError(.wrongPass, "invalid username-password pair or user is disabled.")
        guard delay > .zero else {
            writeError(error)
            return true
        }
        let answer = context.eventLoop.scheduleTask(in: delay) { () throws -> ByteBuffer in throw error }
        awaitReply(answer.futureResult, command: command, started: started, context: context)
        return false
    }

    /// `COMMAND`, `COMMAND COUNT`, `COMMAND INFO name…`, `COMMAND LIST`, `COMMAND DOCS [name…]`.
    func command() -> Bool {
        if arguments.count == 1 {
            out.writeRESPArrayHeader(count: CommandKind.allCases.count)
            for kind in CommandKind.allCases { writeCommandInfo(kind) }
        } else if argument(1, is: "COUNT") {
            out.writeRESPInteger(CommandKind.allCases.count)
        } else if argument(1, is: "LIST") {
            out.writeRESPArrayHeader(count: CommandKind.allCases.count)
            for kind in CommandKind.allCases { out.writeRESPBulkString(kind.name.lowercased()) }
        } else if argument(1, is: "INFO") {
            let names = arguments.dropFirst(2)
            out.writeRESPArrayHeader(count: names.count)
            for name in names {
                if let kind = CommandKind.lookup(name) {
                    writeCommandInfo(kind)
                } else {
                    out.writeRESPNullArray(session.version)
                }
            }
        } else if argument(1, is: "DOCS") {
            // No docs: redis-cli then simply shows no hints.
            out.writeRESPMapHeader(count: 0, session.version)
        } else {
            writeError(
                ProxyError(
                    .generic, "unknown subcommand '\(printable(arguments[1]))'. Try COMMAND COUNT, INFO, LIST or DOCS.")
            )
        }
        return true
    }

    /// The 10-element reply Redis 7 gives per command.
    private func writeCommandInfo(_ kind: CommandKind) {
        out.writeRESPArrayHeader(count: 10)
        out.writeRESPBulkString(kind.name.lowercased())
        out.writeRESPInteger(kind.arity)
        out.writeRESPArrayHeader(count: kind.flags.count)
        for flag in kind.flags { out.writeRESPSimpleString(flag) }
        let span = kind.keySpan
        out.writeRESPInteger(span.first)
        out.writeRESPInteger(span.last)
        out.writeRESPInteger(span.step)
        out.writeRESPArrayHeader(count: 0)  // ACL categories
        out.writeRESPArrayHeader(count: 0)  // tips
        out.writeRESPArrayHeader(count: 0)  // key specs
        out.writeRESPArrayHeader(count: 0)  // subcommands
    }

    /// `CLIENT SETINFO|SETNAME|GETNAME|ID|INFO`: clients send these on connect and expect them to work.
    func client() -> Bool {
        if argument(1, is: "SETINFO") || argument(1, is: "NO-EVICT") || argument(1, is: "NO-TOUCH") {
            out.writeRESPSimpleString(staticString: "OK")
        } else if argument(1, is: "SETNAME"), arguments.count == 3 {
            guard let name = clientName(arguments[2]) else { return true }
            session.name = name
            out.writeRESPSimpleString(staticString: "OK")
        } else if argument(1, is: "GETNAME") {
            if let name = session.name { out.writeRESPBulkString(name) } else { out.writeRESPNull(session.version) }
        } else if argument(1, is: "ID") {
            out.writeRESPInteger(session.id)
        } else if argument(1, is: "INFO") {
            let now = clock.monotonicNanoseconds()
            record?.noteBatch(at: now, lastCommand: .client)  // this command, as Redis shows it
            out.writeRESPBulkString(record?.line(now: now) ?? "")
        } else if argument(1, is: "LIST") {
            guard requireAdmin(.client) else { return true }
            out.writeRESPBulkString(clientList())
        } else {
            writeError(
                ProxyError(
                    .generic,
                    "unknown subcommand '\(printable(arguments[1]))'. Try CLIENT SETNAME, GETNAME, ID, INFO, LIST.")
            )
        }
        return true
    }

    /// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]`: every connection's line; TierCache's clients are
    /// all of type normal.
    private func clientList() -> String {
        var ids: Set<Int64>?
        var onlyNormal = true
        var index = 2
        while index + 1 < arguments.count {
            if argument(index, is: "TYPE") {
                onlyNormal = argument(index + 1, is: "normal")
                index += 2
            } else if argument(index, is: "ID") {
                ids = Set(arguments[(index + 1)...].compactMap { text($0).flatMap { Int64($0) } })
                break
            } else {
                break
            }
        }
        guard onlyNormal else { return "" }
        let now = clock.monotonicNanoseconds()
        return proxy.connections.records.filter { ids?.contains($0.id) ?? true }.map { $0.line(now: now) }.joined()
    }

    /// `RESET`: the connection as it was when it opened (no transaction, nothing watched, RESP2, no name, and
    /// `default` again: not authenticated when it needs a password), as Redis does.
    func reset() -> Bool {
        session.transaction.reset()
        session.version = .v2
        session.name = nil
        let initial = proxy.users.initialUser
        if initial == nil, session.isAuthenticated { resetToUnauthenticatedLimits() }
        become(initial)
        out.writeRESPSimpleString(staticString: "RESET")
        return true
    }

    /// The longest client name, in bytes: names go into `CLIENT INFO` and logs, so they stay short.
    static let maxClientNameLength = 128

    /// A name for `CLIENT SETNAME` or `HELLO … SETNAME`, checked as Redis does (printable ASCII, no spaces) and
    /// for length; an empty name clears it. Writes the error and returns nil when the name is refused.
    func clientName(_ argument: ByteBuffer) -> String?? {
        guard argument.readableBytes <= Self.maxClientNameLength else {
            writeError(
                ProxyError(.generic, "Client names are limited to \(Self.maxClientNameLength) bytes"))
            return nil
        }
        guard argument.readableBytesView.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            writeError(ProxyError(.generic, "Client names cannot contain spaces, newlines or special characters."))
            return nil
        }
        return .some(argument.readableBytes == 0 ? nil : String(decoding: argument.readableBytesView, as: UTF8.self))
    }

    /// `CONFIG GET parameter…` answers for the few parameters clients ask about at connect (redis-benchmark asks
    /// for `save` and `appendonly`): TierCache persists nothing itself, and is configured by flags, not CONFIG SET.
    func config() -> Bool {
        if argument(1, is: "GET") {
            var pairs: [(String, String)] = []
            for index in 2..<arguments.count {
                if argument(index, is: "save") {
                    pairs.append(("save", ""))
                } else if argument(index, is: "appendonly") {
                    pairs.append(("appendonly", "no"))
                } else if argument(index, is: "databases") {
                    pairs.append(("databases", "1"))
                }
            }
            out.writeRESPMapHeader(count: pairs.count, session.version)
            for (name, value) in pairs {
                out.writeRESPBulkString(name)
                out.writeRESPBulkString(value)
            }
        } else {
            writeError(
                ProxyError(
                    .generic,
                    "CONFIG \(printable(arguments[1]).uppercased()) is not supported: TierCache is configured by its flags"
                )
            )
        }
        return true
    }

    /// TierCache has one keyspace: database 0.
    func select() -> Bool {
        if arguments[1].readableBytesView.elementsEqual("0".utf8) {
            out.writeRESPSimpleString(staticString: "OK")
        } else {
            writeError(ProxyError(.generic, "DB index is out of range (TierCache has only database 0)"))
        }
        return true
    }
}
