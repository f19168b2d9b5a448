import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheStats

/// MGET, EXISTS, SET, DEL, QUERY (also SQL.QUERY) and SQL.EXEC (GET is in `ConnectionHandler.swift`, beside the
/// loop that runs it). Each returns true when its reply is already written, false when it went to the backend and
/// the reply follows through `awaitReply`.
extension ConnectionHandler {
    func mget(started: UInt64, context: ChannelHandlerContext) -> Bool {
        let keys = arguments.dropFirst()
        let version = session.version
        // First pass: everything from L1 into a scratch buffer; most MGETs end here. Hits are remembered as byte
        // ranges, not slices: a slice would share `scratch`'s storage, and every later write would copy all of it.
        var scratch = ByteBuffer()
        var hits: [Range<Int>?] = []
        hits.reserveCapacity(keys.count)
        var missing = 0
        for key in keys {
            let start = scratch.writerIndex
            var refreshDue = false
            if !isQueryKey(key),
                case .hit = proxy.reads.serveKeyFromL1(
                    key, now: started, version: version, policy: policy, refreshDue: &refreshDue, into: &scratch)
            {
                hits.append(start..<scratch.writerIndex)
                if refreshDue { refreshAhead(key, context: context) }
            } else {
                hits.append(nil)
                missing += 1
            }
        }
        if missing == 0 {
            out.writeRESPArrayHeader(count: keys.count)
            out.writeBuffer(&scratch)
            return true
        }
        // Second pass: load what L1 lacked (L2 look-ups batched into one round trip); a key of no type reads as
        // nil, as a missing key does in Redis.
        var targets: [ReadPath.KeyRead] = []
        var targetOf: [Int?] = []
        targetOf.reserveCapacity(keys.count)
        for (key, hit) in zip(keys, hits) {
            if hit == nil, !isQueryKey(key), let read = ReadPath.keyRead(key, in: policy) {
                targetOf.append(targets.count)
                targets.append(read)
            } else {
                targetOf.append(nil)
            }
        }
        let reply = proxy.reads.read(many: targets, on: context.eventLoop).map { [scratch, hits, targetOf] loaded in
            var reply = ByteBuffer()
            reply.writeRESPArrayHeader(count: hits.count)
            scratch.withUnsafeReadableBytes { found in
                for (hit, target) in zip(hits, targetOf) {
                    if let hit {
                        reply.writeBytes(UnsafeRawBufferPointer(rebasing: found[hit]))
                    } else if let target {
                        var bytes = Self.bytes(of: loaded[target].reply, version)
                        reply.writeBuffer(&bytes)
                    } else {
                        reply.writeRESPNull(version)
                    }
                }
            }
            return reply
        }
        awaitReply(reply, command: .mget, started: started, context: context)
        return false
    }

    func exists(started: UInt64, context: ChannelHandlerContext) -> Bool {
        var known = 0
        var loads: [EventLoopFuture<Bool>] = []
        for key in arguments.dropFirst() {
            if isQueryKey(key) { continue }
            if let present = proxy.reads.existsInL1(key, now: started, policy: policy) {
                if present { known += 1 }
            } else if let read = ReadPath.keyRead(key, in: policy) {
                loads.append(proxy.reads.read(read, on: context.eventLoop).map { !$0.isAbsent })
            }
        }
        if loads.isEmpty {
            out.writeRESPInteger(known)
            return true
        }
        let knownPresent = known
        let reply = EventLoopFuture.whenAllSucceed(loads, on: context.eventLoop).map { found in
            var reply = ByteBuffer()
            reply.writeRESPInteger(knownPresent + found.filter { $0 }.count)
            return reply
        }
        awaitReply(reply, command: .exists, started: started, context: context)
        return false
    }

    func set(started: UInt64, context: ChannelHandlerContext) -> Bool {
        let options: SetOptions
        switch SetOptions.parse(arguments[3...], argument: argument) {
        case .failure(let error):
            writeError(error)
            return true
        case .success(let parsed):
            options = parsed
        }
        let key = arguments[1]
        guard !isQueryKey(key), let (type, id) = policy.route(key) else { return noType(key) }
        if options.needsTransaction {
            guard type.policy.store != nil else {
                writeError(ProxyError.missingStatement("store", of: type, for: "SET"))
                return true
            }
            // Read and write as one: the condition (or the old value) and the write see the same row.
            let step = TransactionStep.set(TransactionStep.owned((type, id), key: key),
                value: ByteBuffer(bytes: arguments[2].readableBytesView), options: options)
            let reply = proxy.writes.runTransaction(
                [step], watched: [], version: session.version, client: record, on: context.eventLoop)
                .flatMapThrowing { outcome -> ByteBuffer in
                    guard case .committed(let replies) = outcome, let reply = replies.first else {
                        throw ProxyError(.generic, "SET did not run")
                    }
                    return reply
                }
                .flatMapErrorThrowing { error in
                    throw (error as? TransactionStepFailed)?.error ?? error
                }
            awaitReply(reply, command: .set, started: started, context: context)
            return false
        }
        let written = proxy.writes.set(
            type: type, id: id, key: key, value: arguments[2], client: record, on: context.eventLoop)
        let reply = written.map { _ in
            var reply = ByteBuffer()
            reply.writeRESPSimpleString(staticString: "OK")
            return reply
        }
        awaitReply(reply, command: .set, started: started, context: context)
        return false
    }

    func del(started: UInt64, context: ChannelHandlerContext) -> Bool {
        var targets: [(type: DataTypeState, id: ByteBuffer, key: ByteBuffer)] = []
        for key in arguments.dropFirst() {
            guard !isQueryKey(key), let (type, id) = policy.route(key) else { return noType(key) }
            targets.append((type, id, key))
        }
        let reply = proxy.writes.delete(targets, client: record, on: context.eventLoop).map { deleted in
            var reply = ByteBuffer()
            reply.writeRESPInteger(deleted)
            return reply
        }
        awaitReply(reply, command: .del, started: started, context: context)
        return false
    }

    /// `QUERY` and its module-style name `SQL.QUERY`.
    func query(_ kind: CommandKind, started: UInt64, context: ChannelHandlerContext) -> Bool {
        guard let sql = text(arguments[1]) else {
            writeError(ProxyError(.wrongArguments, "\(kind.name) statement is not valid UTF-8"))
            return true
        }
        let key = ReadPath.queryKey(sql: arguments[1], parameters: arguments[2...])
        // A user limited to some types sees a result only if it read tables of those types; a cached one that
        // did not is left to the read path, whose answer carries the tables, to refuse.
        let (access, policy) = (self.access, self.policy)
        let admits: (([String]) -> Bool)? =
            access.groups == nil ? nil : { access.refusal(forTables: $0, policy: policy) == nil }
        switch proxy.reads.serveQueryFromL1(
            key, now: started, version: session.version, policy: policy, admits: admits, into: &out)
        {
        case .hit:
            return true
        case .miss, .stale, .expired:
            let parameters = arguments[2...].map(SQLValue.init(parameter:))
            let version = session.version
            let read = ReadPath.QueryRead(sql: sql, parameters: parameters, key: key, policy: policy)
            let stats = proxy.stats
            let reply = proxy.reads.read(query: read, client: record, on: context.eventLoop).flatMapThrowing {
                if let refusal = access.refusal(forTables: $0.tables, policy: policy) {
                    stats.refusedPermission.increment()
                    throw refusal
                }
                return Self.bytes(of: $0.reply, version)
            }
            awaitReply(reply, command: kind, started: started, context: context)
            return false
        }
    }

    /// `SQL.EXEC sql [param …]`: TierCache's own name for running a statement that may write. (`EXEC` is Redis'
    /// transaction command.)
    func sqlExec(started: UInt64, context: ChannelHandlerContext) -> Bool {
        guard proxy.configuration.sqlExec else {
            writeError(ProxyError.sqlExecOff)
            return true
        }
        guard let sql = text(arguments[1]) else {
            writeError(ProxyError(.wrongArguments, "SQL.EXEC statement is not valid UTF-8"))
            return true
        }
        let parameters = arguments[2...].map(SQLValue.init(parameter:))
        let reply = proxy.writes.exec(sql: sql, parameters: parameters, client: record, on: context.eventLoop).map { result in
            var reply = ByteBuffer()
            reply.writeRESPInteger(result.changes)
            return reply
        }
        awaitReply(reply, command: .sqlExec, started: started, context: context)
        return false
    }

    // MARK: Helpers

    /// Keys starting with 0x00 are QUERY results' L1 keys; clients can't address them.
    @inline(__always)
    func isQueryKey(_ key: ByteBuffer) -> Bool {
        key.readableBytes > 0 && key.getInteger(at: key.readerIndex, as: UInt8.self) == 0
    }

    /// `no data type for key …`, listing the prefixes there are.
    func noTypeError(_ key: ByteBuffer) -> ProxyError {
        let prefixes = policy.types.map(\.policy.prefix).joined(separator: ", ")
        return ProxyError(
            .noType, "no data type for key '\(printable(key))': keys are PREFIX:ID with PREFIX one of \(prefixes)")
    }

}
