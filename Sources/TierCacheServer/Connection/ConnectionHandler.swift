import Logging
import NIOCore
import Synchronization
import TierCacheCache
import TierCacheProtocol
import TierCacheStats
import TierCacheSupport

/// One client connection: decodes requests in place from the read buffer, dispatches them, answers L1 hits
/// synchronously, hands misses to the read path and writes to the write path, and writes replies in request order.
/// This file holds a request's way through the connection, in order: bytes in, decode, dispatch, GET, replies
/// reserved, answered and flushed. Its life around requests (activation, limits, closing) is in `+Lifecycle`.
///
/// What may run when, the reply order, pausing and closing are decided by `ConnectionStateMachine`; this handler
/// performs what it answers (decode, execute, write, flush, stop reading, close). Pipelined reads overlap, so
/// sixteen pipelined misses cost about one round trip, not sixteen; any other command is a barrier, so a pipelined
/// `SET k v; GET k` reads what it wrote, as in Redis. Replies accumulate in one output buffer that is flushed
/// once per read batch, and reused when the socket took it all.
final class ConnectionHandler: ChannelInboundHandler, ReadReceiver {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let proxy: Proxy
    /// The proxy's clock, held here so a batch's clock read is one call.
    let clock: any ServerClock
    /// The policy this connection's commands run under, taken from the proxy when its version moves (checked once
    /// per batch: `refreshPolicy`), so the hit path takes no lock for it.
    var policy: PolicyState
    private var policyVersion: UInt64
    /// Every change (name, protocol, transaction) is published to `record`, for `CLIENT LIST`; none happens per GET.
    var session: ClientSession {
        didSet { sessionChanged() }
    }
    /// What may run now, the reply order, pauses and closing.
    var machine = ConnectionStateMachine()
    var parser: RESPRequestParser
    /// Arguments of the command being executed: slices of `inbound`, valid until the next parse.
    var arguments: [ByteBuffer] = []
    /// Received bytes not yet decoded; nil once all were, so NIO's receive-buffer pool can reuse the buffer
    /// for the next read instead of allocating one (it reuses only buffers nobody else holds).
    var inbound: ByteBuffer?
    /// Replies not yet written to the channel.
    var out = ByteBuffer()
    /// Commands answered synchronously in the current batch, by kind: their latency is recorded once per batch
    /// (one clock read and one histogram lock for a whole pipeline instead of per command).
    var answeredInBatch: [Int] = Array(repeating: 0, count: CommandKind.allCases.count)
    var answeredKinds: [CommandKind] = []
    /// L1 hits of GETs in the current batch, by group, added to the shared counters once per batch.
    private var hitsInBatch: [Int] = []
    /// A xorshift sequence stepped once per read; a read is reported when its low bits are 0, so one in
    /// `AccessTracker.sampleEvery` is, at random: a fixed stride would alias with a pipeline's repeating pattern
    /// (every 32nd read of a 10-key cycle hits only 5 of its keys).
    private var readSampler = UInt32.random(in: 1...UInt32.max)
    private var hitGroups: [Int32] = []
    let logger: Logger
    /// Written to the channel but not yet flushed.
    private var unflushed = false
    /// A flush is scheduled for the end of this event loop tick.
    private var flushScheduled = false
    /// Start times of the commands whose awaited replies arrived since the last flush, by kind; they become
    /// latencies at the flush, when the replies are written, with one clock read and one lock per kind.
    private var arrivedLatencies: [[UInt64]] = Array(repeating: [], count: CommandKind.allCases.count)
    private var arrivedKinds: [CommandKind] = []
    /// This channel's event loop's Redis connection, looked up once: a channel never changes loops.
    private var cachedL2Connection: L2Connection?
    /// The idle and slow-request checks (`checkLimits`), when either limit is set.
    var limitCheck: RepeatedTask?
    /// What `CLIENT LIST` shows of this connection; set at activation.
    var record: ClientRecord?
    /// The last command executed, published to `record` once per batch.
    var lastKind: CommandKind?
    /// Bytes of `inbound` last reported to the proxy's input budget.
    var inputAccounted = 0
    /// Closes this connection from any thread when the input budget picks it; made once, at activation.
    var closeForInputBudget: (@Sendable () -> Void)?
    /// This handler's context while it is in the pipeline: where answers that arrive without one go
    /// (`readAnswered`).
    var context: ChannelHandlerContext?
    /// What this connection's user may do, rebuilt when the user, the users file or the policy changes.
    var access: ConnectionAccess
    /// `proxy.users.version` when `access` was built.
    var usersVersion: UInt64

    init(proxy: Proxy) {
        self.proxy = proxy
        self.clock = proxy.clock
        self.policyVersion = proxy.policies.version.load(ordering: .acquiring)
        self.policy = proxy.policy
        self.usersVersion = proxy.users.version.load(ordering: .acquiring)
        let user = proxy.users.initialUser
        self.access = ConnectionAccess(user: user, policy: proxy.policy)
        let session = ClientSession(id: proxy.connectionIDs.next(), user: user?.name)
        let limits = proxy.configuration.protocolLimits
        self.parser = RESPRequestParser(limits: session.isAuthenticated ? limits : limits.beforeAuthentication)
        self.session = session
        var logger = proxy.logger
        logger[metadataKey: "connection"] = "\(session.id)"
        self.logger = logger
        arguments.reserveCapacity(8)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if inbound == nil {
            inbound = buffer
        } else {
            inbound?.writeBuffer(&buffer)
        }
        switch machine.received(buffered: inbound?.readableBytes ?? 0) {
        case .decode:
            processInbound(context: context)
        case .pauseInput:
            // A client pipelining far ahead of a slow backend reply: stop reading until the reply is out, so
            // its input can't grow without bound.
            updateReading(context: context)
        case .keep:
            break
        }
        accountInput()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushReplies(context: context)
        context.fireChannelReadComplete()
    }

    /// Reports what `inbound` holds now to the proxy's input budget, when it changed.
    @inline(__always)
    func accountInput() {
        let holding = inbound?.readableBytes ?? 0
        guard holding != inputAccounted, let close = closeForInputBudget else { return }
        let previous = inputAccounted
        inputAccounted = holding
        proxy.inputBudget.update(id: session.id, from: previous, to: holding, close: close)
    }

    static let commandsPerClockRead = 32
    /// Replies gathered in one batch beyond which they are handed to the channel mid-batch, so that a client
    /// that is not reading is noticed (the channel turns unwritable) before a long pipeline's replies pile up.
    static let maxGatheredOutput = 256 * 1024

    /// Decodes and executes buffered commands until the buffer runs dry or a command must wait.
    func processInbound(context: ChannelHandlerContext) {
        defer {
            accountInput()
            if machine.inputEnded { finishIfInputDone(context: context) }
        }
        // One clock read per batch start: the latency of the batch's commands is measured from it. For expiry,
        // "now" is re-read every `commandsPerClockRead` commands, so a long pipeline can't serve an entry more
        // than a few microseconds past its expiry.
        let batchStarted = clock.monotonicNanoseconds()
        defer { recordBatch(started: batchStarted) }
        refreshPolicy()
        if machine.resumeHeld() {
            // The held command's arguments are still in `arguments` (slices that keep their bytes alive): run it
            // first, even when no undecoded input is left.
            execute(now: batchStarted, context: context)
            arguments.removeAll(keepingCapacity: true)
        }
        guard var buffer = inbound else { return }
        inbound = nil
        var now = batchStarted
        var sinceClockRead = 0
        while machine.mayDecode {
            let parsed: Bool
            do {
                parsed = try parser.parseCommand(from: &buffer, into: &arguments)
            } catch {
                protocolError(error, context: context)
                return
            }
            guard parsed else { break }
            sinceClockRead += 1
            if sinceClockRead == Self.commandsPerClockRead {
                now = clock.monotonicNanoseconds()
                sinceClockRead = 0
                if out.readableBytes > Self.maxGatheredOutput, !machine.awaitsReplies { flushReplies(context: context) }
            }
            let action = machine.decoded(isEmpty: arguments.isEmpty, mayOverlap: Self.mayOverlap(arguments[0]))
            // A held command's arguments are slices of `buffer`, kept alive below until the awaited replies are in.
            if action == .hold { break }
            if action == .execute { execute(now: now, context: context) }
            arguments.removeAll(keepingCapacity: true)
        }
        // Bytes delivered while we were decoding (only if a callee re-entered channelRead) go after ours.
        if var arrived = inbound { buffer.writeBuffer(&arrived) }
        guard buffer.readableBytes > 0 else {
            inbound = nil
            return
        }
        // Keep the unparsed tail small: compact once the consumed head dominates.
        if buffer.readerIndex > 64 * 1024, buffer.readerIndex > buffer.readableBytes {
            buffer.discardReadBytes()
        }
        inbound = buffer
    }

    // MARK: Dispatch, and GET

    /// Executes the decoded command in `arguments`: name → arity check → authentication → a queued transaction's
    /// queue, or the command's function. `now` is the batch's clock reading. Each function returns true when its
    /// reply is written, false when the reply will come through `readAnswered` or `awaitReply`. The other commands
    /// live by kind: `+DataCommands`, `+Transactions`, `+ConnectionCommands`, `+Introspection`, `+AdminCommands`.
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
        guard access.mayRun(kind) else {
            answered(kind)
            refuseUnpermitted(kind)
            return
        }
        // Only users limited to some types pay for looking at the keys.
        if access.groups != nil, let refusal = keyRefusal(kind) {
            answered(kind)
            writeError(refusal)
            if session.transaction.isQueuing { refuseQueuedTransaction() }
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
        case .hello: finished = hello(started: started, context: context)
        case .auth: finished = auth(started: started, context: context)
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
        case .slowlog: finished = slowlog()
        case .acl: finished = acl()
        }
        // Commands that went to the backend record their latency when their reply arrives.
        if finished { answered(kind) }
    }

    @inline(__always)
    private func answered(_ kind: CommandKind) {
        if answeredInBatch[kind.rawValue] == 0 { answeredKinds.append(kind) }
        answeredInBatch[kind.rawValue] += 1
    }

    /// GET, here beside the loop that runs it: an L1 hit is served into `out` in place and ends here; a miss
    /// starts its read (`ReadPath.start`), whose `ReadTask` answers through `readAnswered` into the reply reserved
    /// for it.
    func get(started: UInt64, context: ChannelHandlerContext) -> Bool {
        // The hit path works on the argument's bytes in place: no ByteBuffer copy, no reference count traffic.
        let version = session.version
        var refreshDue = false
        let lookup = arguments[1].withUnsafeReadableBytes { key -> L1Lookup? in
            if key.first == 0 { return nil }  // a QUERY result's key: not addressable by clients
            return proxy.reads.serveKeyFromL1Uncounted(
                key, now: started, version: version, policy: policy, refreshDue: &refreshDue, into: &out)
        }
        let expired: Bool
        switch lookup {
        case nil:
            return noType(arguments[1])
        case .hit(let group):
            tallyHit(group)
            noteRead(group: group, key: arguments[1])
            if refreshDue { refreshAhead(arguments[1], context: context) }
            return true
        case .expired:
            expired = true
        case .miss, .stale:
            expired = false
        }
        // The key and id are slices of the read buffer, kept until the reply: under pipelining that costs NIO a
        // fresh receive buffer per read, cheaper than a copy of every key.
        guard let read = ReadPath.keyRead(arguments[1], in: policy) else { return noType(arguments[1]) }
        noteRead(group: read.type.group, key: read.key)
        guard
            let (task, first) = proxy.reads.start(
                consume read, expired: expired, version: version, into: &out, on: context.eventLoop)
        else {
            return true  // served stale while a background load revalidates it
        }
        let reply = reserveReply(command: .get, context: context)
        task.run(
            first, connection: proxy.l2.flatMap(l2Connection), answering: self,
            slot: ReadSlot(id: reply, command: .get, started: started, version: version))
        return false
    }

    /// Starts `refresh_ahead`'s background load for a key just served from L1.
    func refreshAhead(_ key: ByteBuffer, context: ChannelHandlerContext) {
        guard let read = ReadPath.keyRead(key, in: policy) else { return }
        proxy.reads.refreshAhead(read, on: context.eventLoop)
    }

    // MARK: Per-batch bookkeeping

    /// Takes the proxy's policy if a reload replaced it since this connection last looked.
    @inline(__always)
    private func refreshPolicy() {
        let users = proxy.users.version.load(ordering: .acquiring)
        if users != usersVersion { refreshUser(users) }
        let version = proxy.policies.version.load(ordering: .acquiring)
        guard version != policyVersion else { return }
        policy = proxy.policy
        policyVersion = version
        if access.groups != nil { access = ConnectionAccess(user: access.user, policy: policy) }
    }

    /// Reports one read in `AccessTracker.sampleEvery` to the access tracker.
    @inline(__always)
    func noteRead(group: Int32, key: ByteBuffer) {
        readSampler ^= readSampler << 13
        readSampler ^= readSampler >> 17
        readSampler ^= readSampler << 5
        guard readSampler & UInt32(AccessTracker.sampleEvery - 1) == 0 else { return }
        let tracker = proxy.accessTracker
        key.withUnsafeReadableBytes { tracker.record(group: group, key: $0) }
    }

    @inline(__always)
    func tallyHit(_ group: Int32) {
        let index = Int(group)
        if index >= hitsInBatch.count { hitsInBatch += Array(repeating: 0, count: index + 1 - hitsInBatch.count) }
        if hitsInBatch[index] == 0 { hitGroups.append(group) }
        hitsInBatch[index] += 1
    }

    /// Records the latency of the commands this batch answered: from the batch's start to now, which is when
    /// their replies are complete in the output buffer.
    private func recordBatch(started: UInt64) {
        record?.noteBatch(at: started, lastCommand: lastKind)
        for group in hitGroups {
            policy.counters(ofGroup: group).l1.hits.increment(by: hitsInBatch[Int(group)])
            hitsInBatch[Int(group)] = 0
        }
        hitGroups.removeAll(keepingCapacity: true)
        guard !answeredKinds.isEmpty else { return }
        let elapsed = clock.monotonicNanoseconds() &- started
        var total = 0
        for kind in answeredKinds {
            let count = answeredInBatch[kind.rawValue]
            proxy.stats.recorder(for: kind).record(nanoseconds: elapsed, count: count)
            answeredInBatch[kind.rawValue] = 0
            total += count
        }
        answeredKinds.removeAll(keepingCapacity: true)
        proxy.stats.commandsProcessed.increment(by: total)
    }

    /// Records the latency of the awaited replies that arrived since the last flush, which writes them.
    private func recordArrived() {
        guard !arrivedKinds.isEmpty else { return }
        let now = clock.monotonicNanoseconds()
        var total = 0
        for kind in arrivedKinds {
            total += arrivedLatencies[kind.rawValue].count
            for index in arrivedLatencies[kind.rawValue].indices {
                arrivedLatencies[kind.rawValue][index] = now &- arrivedLatencies[kind.rawValue][index]
            }
            proxy.stats.recorder(for: kind).record(all: arrivedLatencies[kind.rawValue])
            arrivedLatencies[kind.rawValue].removeAll(keepingCapacity: true)
        }
        arrivedKinds.removeAll(keepingCapacity: true)
        proxy.stats.commandsProcessed.increment(by: total)
    }

    /// The Redis connection of this channel's event loop (the caller's).
    func l2Connection(_ l2: L2Tier) -> L2Connection? {
        if let connection = cachedL2Connection { return connection }
        cachedL2Connection = l2.localConnection()
        return cachedL2Connection
    }

    /// Reads may overlap each other; anything else is a barrier.
    private static func mayOverlap(_ name: ByteBuffer) -> Bool {
        CommandKind.lookup(name)?.mayOverlap ?? false
    }

    /// Writes what is in order and ready, and flushes.
    func flushReplies(context: ChannelHandlerContext) {
        recordArrived()
        if let ready = machine.takeReadyReplies() {
            context.write(wrapOutboundOut(ready), promise: nil)
            unflushed = true
        }
        if !machine.awaitsReplies, out.readableBytes > 0 {
            context.write(wrapOutboundOut(out), promise: nil)
            // If the socket takes everything, NIO releases its reference and clearing reuses the storage.
            out.clear()
            unflushed = true
        }
        if unflushed {
            unflushed = false
            context.flush()
            if machine.flushed(channelWritable: context.channel.isWritable) {
                proxy.stats.outputPaused.increment()
                updateReading(context: context)
            }
        }
    }

    // MARK: Replies from the backend

    /// Queues `reply` in the output order. A barrier command parks decoding until it completes; a read lets
    /// decoding go on.
    func awaitReply(
        _ reply: EventLoopFuture<ByteBuffer>,
        command: CommandKind,
        started: UInt64,
        context: ChannelHandlerContext
    ) {
        let id = reserveReply(command: command, context: context)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        reply.whenComplete { result in
            let (handler, context) = bound.value
            handler.replyArrived(result, id: id, command: command, started: started, context: context)
        }
    }

    /// Takes the next place in the reply order for a reply that will come through `replyArrived(_:id:…)`; a
    /// barrier command parks decoding until it does.
    func reserveReply(command: CommandKind, context: ChannelHandlerContext) -> UInt64 {
        let (id, writeOutputFirst) = machine.reserveReply(barrier: !command.mayOverlap, output: &out)
        if writeOutputFirst {
            // `out` holds replies that precede this one and nothing is awaited before them: they can go now.
            context.write(wrapOutboundOut(out), promise: nil)
            out.clear()
            unflushed = true
        }
        return id
    }

    /// A client read's answer (`ReadTask`), for the reply it reserved.
    func readAnswered(_ result: Result<LoadedReply, any Error>, slot: ReadSlot) {
        guard let context else { return }  // the handler left the pipeline: nobody to answer
        replyArrived(
            result.map { Self.bytes(of: $0.reply, slot.version) }, id: slot.id, command: slot.command,
            started: slot.started, context: context)
    }

    /// A reserved reply is here: written in its place, then decoding resumes if it was parked.
    func replyArrived(
        _ result: Result<ByteBuffer, any Error>,
        id: UInt64,
        command: CommandKind,
        started: UInt64,
        context: ChannelHandlerContext
    ) {
        let reply: ByteBuffer
        switch result {
        case .success(let bytes):
            reply = bytes
        case .failure(let error):
            var bytes = ByteBuffer()
            swap(&bytes, &out)
            writeError(error)
            swap(&bytes, &out)
            reply = bytes
        }
        let action = machine.replyArrived(id: id, reply)
        if action == .ignore { return }  // the connection closed meanwhile
        if arrivedLatencies[command.rawValue].isEmpty { arrivedKinds.append(command) }
        arrivedLatencies[command.rawValue].append(started)
        // Written at the flush: the replies of one Redis or database batch go out as one buffer.
        switch action {
        case .ignore, .flushSoon:
            scheduleFlush(context: context)
        case .flushAndClose:
            closeAfterWriting(context: context)
        case .resume:
            processInbound(context: context)
            scheduleFlush(context: context)
            if machine.resumeInput() { updateReading(context: context) }
        }
    }

    /// Flushes once the replies completing in this event loop tick are all written: pipelined reads complete
    /// together (one Redis or database batch), and one flush for all of them is one `writev` instead of many.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.flushScheduled = false
            handler.flushReplies(context: context)
        }
    }

    func noType(_ key: ByteBuffer) -> Bool {
        writeError(noTypeError(key))
        return true
    }

    static func bytes(of reply: CachedReply, _ version: RESPVersion) -> ByteBuffer {
        version == .v3 ? (reply.resp3 ?? reply.resp2) : reply.resp2
    }

    func writeError(_ error: any Error) {
        proxy.stats.errorReplies.increment()
        if let error = error as? ProxyError {
            out.writeRESPError(error.replyText)
        } else {
            logger.error("unexpected error", metadata: ["error": "\(error)"])
            out.writeRESPError("ERR internal error: \(error)")
        }
    }

}
