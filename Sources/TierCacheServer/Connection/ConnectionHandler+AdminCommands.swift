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
            out.writeStats(proxy.statsReport(), session.version)
        } else if arguments.count == 2, let name = text(arguments[1]), let report = proxy.statsReport(type: name) {
            out.writeStats(report, session.version)
        } else if arguments.count == 2 {
            let names = (proxy.policy.types.map(\.name) + ["default"]).joined(separator: ", ")
            writeError(ProxyError(.wrongArguments, "no data type '\(printable(arguments[1]))'; known: \(names)"))
        } else {
            writeError(ProxyError.wrongArity("stats"))
        }
        return true
    }

    /// `INFO [section …]`: Redis' report format over TierCache's stats (`Proxy.infoReport`). A bulk string in RESP2,
    /// a verbatim string in RESP3, as Redis answers.
    func info() -> Bool {
        let sections = arguments.dropFirst().compactMap { text($0)?.lowercased() }
        let report = proxy.infoReport(sections: sections)
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
    /// as they are on disk now, without applying them; `POLICY RELOAD` applies them (`Proxy.reloadPolicy`). None
    /// takes a path: clients must not make the proxy read arbitrary files (operators have `tiercache policy check
    /// PATH`).
    func policy(started: UInt64, context: ChannelHandlerContext) -> Bool {
        if argument(1, is: "SHOW"), arguments.count == 2 {
            out.writeStats(proxy.policyReport(), session.version)
            return true
        }
        if argument(1, is: "RELOAD"), arguments.count == 2 {
            let proxy = self.proxy
            let reply = proxy.database.runUnguarded(context.eventLoop) { () throws -> ByteBuffer in
                var reply = ByteBuffer()
                switch proxy.reloadPolicy(trigger: "POLICY RELOAD") {
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
            let reply = proxy.database.runUnguarded(context.eventLoop) { () throws -> ByteBuffer in
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

extension Proxy {
    /// The running policy as operators wrote it, with where each type came from.
    public func policyReport() -> StatsNode {
        let types: [(String, StatsNode)] = policy.types.map { type in
            let policy = type.policy
            var fields: [(String, StatsNode)] = [
                ("prefix", .text(policy.prefix)),
                ("ttl_seconds", .double(policy.ttl.seconds)),
                ("jitter_percent", .double(policy.jitterPercent)),
                ("tables", .text(policy.tables.joined(separator: ","))),
                ("l1", .integer(policy.l1 ? 1 : 0)),
                ("l2", .integer(policy.l2 ? 1 : 0)),
                ("cache_misses", .integer(policy.cacheMisses ? 1 : 0)),
                ("load", .text(policy.load)),
            ]
            if let store = policy.store { fields.append(("store", .text(store))) }
            if let delete = policy.delete { fields.append(("delete", .text(delete))) }
            if let maxStale = policy.maxStale { fields.append(("max_stale_seconds", .double(maxStale.seconds))) }
            if let window = policy.staleWhileRevalidate {
                fields.append(("stale_while_revalidate_seconds", .double(window.seconds)))
            }
            if let fraction = policy.refreshAhead { fields.append(("refresh_ahead", .double(fraction))) }
            if let ttlMax = policy.ttlMax { fields.append(("ttl_max_seconds", .double(ttlMax.seconds))) }
            fields.append(("source", .text(policy.location.description)))
            return (type.name, .map(fields))
        }
        let fallback = policy.policies.defaultPolicy
        return .map([
            ("path", .text(configuration.policyPath)),
            ("files", .text(policy.policies.files.joined(separator: ","))),
            ("status", policyStatus()),
            ("types", .map(types)),
            (
                "default",
                .map([
                    ("cache", .integer(fallback.cache ? 1 : 0)),
                    ("ttl_seconds", .double(fallback.ttl?.seconds ?? 0)),
                    ("l1", .integer(fallback.l1 ? 1 : 0)),
                ])
            ),
        ])
    }
}
