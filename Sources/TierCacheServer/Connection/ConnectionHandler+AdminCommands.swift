import NIOCore
import TierCachePolicy
import TierCacheProtocol
import TierCacheStats

/// STATS and POLICY: what operators ask the running proxy.
extension ConnectionHandler {
    /// `STATS`, `STATS type`, or `STATS HOT type [n]`.
    func stats() -> Bool {
        if arguments.count >= 3, argument(1, is: "HOT") {
            return hotKeys()
        }
        if arguments.count == 1 {
            out.writeStats(StatsReport(proxy).tree(), session.version)
        } else if arguments.count == 2, let name = text(arguments[1]), let report = StatsReport(proxy).tree(type: name) {
            out.writeStats(report, session.version)
        } else if arguments.count == 2 {
            let names = (proxy.policy.types.map(\.name) + ["default"]).joined(separator: ", ")
            writeError(ProxyError(.wrongArguments, "no data type '\(printable(arguments[1]))'; known: \(names)"))
        } else {
            writeError(ProxyError.wrongArity("stats"))
        }
        return true
    }

    /// `INFO [section …]`: Redis' report format over TierCache's stats (`InfoReport`). A bulk string in RESP2,
    /// a verbatim string in RESP3, as Redis answers.
    func info() -> Bool {
        let sections = arguments.dropFirst().compactMap { text($0)?.lowercased() }
        let report = InfoReport(proxy).text(sections: sections)
        if session.version == .v3 {
            out.writeRESPVerbatimString(report, format: "txt")
        } else {
            out.writeRESPBulkString(report)
        }
        return true
    }

    /// `WARM` warms every type with a `warm` statement, `WARM type` that type, in the background (see `Warmer`);
    /// progress is in `STATS warming`.
    func warm(context: ChannelHandlerContext) -> Bool {
        var types = policy.types.filter { $0.policy.warm != nil }
        if arguments.count == 2 {
            guard let name = text(arguments[1]), let type = policy.type(named: name) else {
                let names = policy.types.map(\.name).joined(separator: ", ")
                writeError(ProxyError(.wrongArguments, "no data type '\(printable(arguments[1]))'; known: \(names)"))
                return true
            }
            guard type.policy.warm != nil else {
                writeError(ProxyError(.wrongArguments, "type '\(name)' has no warm statement"))
                return true
            }
            types = [type]
        } else if arguments.count > 2 {
            writeError(ProxyError.wrongArity("warm"))
            return true
        }
        guard !types.isEmpty else {
            out.writeRESPSimpleString("OK no type has a warm statement")
            return true
        }
        let started = proxy.warmer.warm(types, proxy: proxy, on: context.eventLoop)
        out.writeRESPSimpleString(
            started.isEmpty ? "OK already warming" : "OK warming \(started.joined(separator: ", "))")
        return true
    }

    /// `STATS HOT type [n]`: the type's most read keys (10 unless `n`, at most 64) with their estimated reads per
    /// second, highest first, as `[key, rate]` pairs.
    private func hotKeys() -> Bool {
        guard arguments.count <= 4 else {
            writeError(ProxyError(.wrongArguments, "STATS HOT takes a type and an optional count"))
            return true
        }
        guard let name = text(arguments[2]), let type = policy.type(named: name) else {
            let names = policy.types.map(\.name).joined(separator: ", ")
            writeError(ProxyError(.wrongArguments, "no data type '\(printable(arguments[2]))'; known: \(names)"))
            return true
        }
        var limit = 10
        if arguments.count == 4 {
            guard let text = text(arguments[3]), let count = Int(text), (1...64).contains(count) else {
                writeError(ProxyError(.wrongArguments, "STATS HOT count must be 1 to 64"))
                return true
            }
            limit = count
        }
        let hottest = proxy.accessTracker.hottest(group: type.group, limit: limit)
        out.writeRESPArrayHeader(count: hottest.count)
        for (key, rate) in hottest {
            out.writeRESPArrayHeader(count: 2)
            out.writeRESPBulkString(key)
            out.writeRESPDouble((rate * 100).rounded() / 100, session.version)
        }
        return true
    }

    /// `POLICY SHOW` describes the running policy; `POLICY CHECK` validates the running policy directory's files
    /// as they are on disk now, without applying them; `POLICY RELOAD` applies them (`PolicyReloader`). None
    /// takes a path: clients must not make the proxy read arbitrary files (operators have `tiercache policy check
    /// PATH`).
    func policy(started: UInt64, context: ChannelHandlerContext) -> Bool {
        if argument(1, is: "SHOW"), arguments.count == 2 {
            out.writeStats(PolicyReport(proxy).tree(), session.version)
            return true
        }
        if argument(1, is: "RELOAD"), arguments.count == 2 {
            let proxy = self.proxy
            let reply = proxy.runAdmin(context.eventLoop) { () throws -> ByteBuffer in
                var reply = ByteBuffer()
                switch PolicyReloader(proxy).reload(trigger: "POLICY RELOAD") {
                case .reloaded(let record, let changes):
                    let what = changes.isEmpty ? "" : ": " + changes.joined(separator: "; ")
                    reply.writeRESPSimpleString("OK reloaded version \(record.digest)\(what)")
                case .unchanged(let record):
                    reply.writeRESPSimpleString("OK unchanged version \(record.digest)")
                case .refused(let errors):
                    throw ProxyError(
                        .generic,
                        "policy reload refused, the running policy stays: "
                            + errors.split(separator: "\n").joined(separator: "; "))
                }
                return reply
            }
            awaitReply(reply, command: .policy, started: started, context: context)
            return false
        }
        if argument(1, is: "CHECK"), arguments.count == 3 {
            writeError(
                ProxyError(
                    .wrongArguments,
                    "POLICY CHECK validates the running policy directory only; use `tiercache policy check PATH` "
                        + "for other paths"
                )
            )
            return true
        }
        if argument(1, is: "CHECK"), arguments.count == 2 {
            let path = proxy.configuration.policyPath
            let reply = proxy.runAdmin(context.eventLoop) { () throws -> ByteBuffer in
                var reply = ByteBuffer()
                do throws(PolicyLoadError) {
                    let policies = try PolicyLoader.load(path: path)
                    reply.writeRESPSimpleString(
                        "OK \(policies.types.count) types in \(policies.files.count) files under \(path)"
                    )
                } catch {
                    let lines = error.errors.map(\.description)
                    throw ProxyError(
                        .generic,
                        "policy at \(path) has \(lines.count) error\(lines.count == 1 ? "" : "s"): "
                            + lines.joined(separator: "; ")
                    )
                }
                return reply
            }
            awaitReply(reply, command: .policy, started: started, context: context)
            return false
        }
        writeError(
            ProxyError(.wrongArguments, "unknown POLICY subcommand; use POLICY SHOW, POLICY CHECK or POLICY RELOAD"))
        return true
    }
}
