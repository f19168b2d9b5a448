import Logging
import NIOCore
import Synchronization
import TierCacheCache
import TierCacheProtocol
import TierCacheStats
import TierCacheSupport

/// One client connection: decodes requests in place from the read buffer, answers L1 hits synchronously,
/// hands misses to L2 and the backend and writes to the backend, and writes replies in request order.
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
    private var machine = ConnectionStateMachine()
    private var parser: RESPRequestParser
    /// Arguments of the command being executed: slices of `inbound`, valid until the next parse.
    var arguments: [ByteBuffer] = []
    /// Received bytes not yet decoded; nil once all were, so NIO's receive-buffer pool can reuse the buffer
    /// for the next read instead of allocating one (it reuses only buffers nobody else holds).
    private var inbound: ByteBuffer?
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
    private var limitCheck: RepeatedTask?
    /// What `CLIENT LIST` shows of this connection; set at activation.
    var record: ClientRecord?
    /// The last command executed, published to `record` once per batch.
    var lastKind: CommandKind?
    /// Bytes of `inbound` last reported to the proxy's input budget.
    private var inputAccounted = 0
    /// Closes this connection from any thread when the input budget picks it; made once, at activation.
    private var closeForInputBudget: (@Sendable () -> Void)?
    /// This handler's context while it is in the pipeline: where answers that arrive without one go
    /// (`readAnswered`).
    private var context: ChannelHandlerContext?

    init(proxy: Proxy) {
        self.proxy = proxy
        self.clock = proxy.clock
        self.policyVersion = proxy.policies.version.load(ordering: .acquiring)
        self.policy = proxy.policy
        let session = ClientSession(
            id: proxy.connectionIDs.next(),
            requiresPassword: proxy.configuration.requirePassword != nil
        )
        let limits = proxy.configuration.protocolLimits
        self.parser = RESPRequestParser(limits: session.isAuthenticated ? limits : limits.beforeAuthentication)
        self.session = session
        var logger = proxy.logger
        logger[metadataKey: "connection"] = "\(session.id)"
        self.logger = logger
        arguments.reserveCapacity(8)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        out = context.channel.allocator.buffer(capacity: 4096)
        let open = proxy.stats.connectionsOpen.increment()
        proxy.stats.connectionsAccepted.increment()
        context.fireChannelActive()
        let configuration = proxy.configuration
        if open > configuration.maxClients {
            proxy.stats.rejectedConnections.increment()
            out.writeRESPError("ERR max number of clients reached")
            close(context: context)
            return
        }
        let record = ClientRecord(
            id: session.id, address: Self.describe(context.channel.remoteAddress),
            localAddress: Self.describe(context.channel.localAddress), now: clock.monotonicNanoseconds())
        self.record = record
        proxy.connections.add(context.channel, record: record)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        closeForInputBudget = { [eventLoop = context.eventLoop] in
            eventLoop.execute {
                let (handler, context) = bound.value
                handler.closeOverInputBudget(context: context)
            }
        }
        var limits = [configuration.idleTimeout, configuration.requestTimeout].compactMap { $0 }
        if configuration.maxOutputBuffer != nil { limits.append(.seconds(1)) }
        guard let shortest = limits.min() else { return }
        // Checked a few times per limit, at most every second and at least every 50 ms.
        let period = TimeAmount.nanoseconds(
            min(1_000_000_000, max(50_000_000, Int64(clamping: shortest.wholeNanoseconds / 4))))
        machine.activated(now: clock.monotonicNanoseconds())
        limitCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let (handler, context) = bound.value
            handler.checkLimits(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        proxy.stats.connectionsOpen.decrement()
        proxy.connections.remove(context.channel)
        limitCheck?.cancel()
        machine.closed()
        inbound = nil
        accountInput()
        closeForInputBudget = nil
        context.fireChannelInactive()
    }

    /// Sent by a graceful shutdown (`ConnectionRegistry.drain`): finish what was started, then close.
    struct Drain: Sendable {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            machine.inputClosed()
            finishIfInputDone(context: context)
            return
        }
        guard event is Drain else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        finishStartedAndClose(context: context)
    }

    /// Stops reading and closes once the commands already executing have their replies out. Bytes not yet run are
    /// dropped, never half-done (nothing is acknowledged that did not run); a held command has not run either.
    private func finishStartedAndClose(context: ChannelHandlerContext) {
        let action = machine.finishStarted()
        guard action != .none else { return }
        inbound = nil
        accountInput()
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        if action == .closeNow { closeAfterWriting(context: context) }
    }

    /// Closes a connection idle for `--idle-timeout` (nothing received, nothing awaited), one whose current
    /// command has stayed incomplete for `--request-timeout` while we were ready to read it (slowloris), and one
    /// whose client left more than `--max-output-buffer` of replies unread and read none since the last check
    /// (its unsent replies dropped: nobody reads them).
    private func checkLimits(context: ChannelHandlerContext) {
        let configuration = proxy.configuration
        var output: ConnectionStateMachine.OutputProgress?
        if configuration.maxOutputBuffer != nil, machine.outputPaused,
            let unsent = try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)
        {
            output = .init(unsent: unsent, acknowledged: TCPInfo.bytesAcknowledged(context.channel))
        }
        let limits = ConnectionStateMachine.Limits(
            idleTimeout: configuration.idleTimeout, requestTimeout: configuration.requestTimeout,
            maxOutputBuffer: configuration.maxOutputBuffer)
        let verdict = machine.checkLimits(
            now: clock.monotonicNanoseconds(), limits: limits, pendingInput: inbound?.readableBytes ?? 0,
            output: output)
        switch verdict {
        case .none:
            return
        case .idle:
            proxy.stats.idleClosed.increment()
            logger.debug("closing idle connection")
            closeAfterWriting(context: context)
        case .requestTimedOut(let timeout):
            proxy.stats.slowRequestsClosed.increment()
            out.writeRESPError("ERR request not completed within \(timeout.shortDescription); closing the connection")
            closeAfterWriting(context: context)
        case .outputUnread(let unsent):
            proxy.stats.outputLimitClosed.increment()
            logger.notice(
                "closing connection: its client left \(unsent) bytes of replies unread (limit \(configuration.maxOutputBuffer ?? 0)) and read none for a check period"
            )
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .resume(let decode) = machine.writabilityChanged(channelWritable: context.channel.isWritable) {
            if decode {
                processInbound(context: context)
                flushReplies(context: context)
            }
            updateReading(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Reads from the socket only while neither the client's input nor its unread output is too far ahead.
    private func updateReading(context: ChannelHandlerContext) {
        guard let reading = machine.wantsInput else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
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

    /// After the client closed its sending side: once every command it sent has been answered, writes the
    /// replies and closes when they are out. (NIO would fail writes still pending at a plain close.) An
    /// incomplete command left in the buffer can never complete, and is dropped.
    private func finishIfInputDone(context: ChannelHandlerContext) {
        guard machine.finishIfInputEnded() else { return }
        inbound = nil
        accountInput()
        flushReplies(context: context)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
    }

    /// Reports what `inbound` holds now to the proxy's input budget, when it changed.
    @inline(__always)
    private func accountInput() {
        let holding = inbound?.readableBytes ?? 0
        guard holding != inputAccounted, let close = closeForInputBudget else { return }
        let previous = inputAccounted
        inputAccounted = holding
        proxy.inputBudget.update(id: session.id, from: previous, to: holding, close: close)
    }

    /// Closes this connection because all clients' unexecuted input went over `--max-input-buffers` and this
    /// connection's was among the largest (`InputBudget`). What it sent and was not executed is dropped; what was
    /// executed has been or will be answered first.
    private func closeOverInputBudget(context: ChannelHandlerContext) {
        switch machine.state {
        case .draining, .closing: return
        case .reading, .awaitingBarrier, .holding: break
        }
        proxy.stats.inputBudgetClosed.increment()
        logger.warning(
            "closing connection: clients' unexecuted input is over --max-input-buffers and this one's is among the largest",
            metadata: ["bytes": "\(inbound?.readableBytes ?? 0)", "limit": "\(proxy.inputBudget.limit ?? 0)"])
        out.writeRESPError(
            "ERR closing connection: the server's input buffers for all clients are full and this client's is among the largest")
        finishStartedAndClose(context: context)
    }

    static let commandsPerClockRead = 32
    /// Replies gathered in one batch beyond which they are handed to the channel mid-batch, so that a client
    /// that is not reading is noticed (the channel turns unwritable) before a long pipeline's replies pile up.
    static let maxGatheredOutput = 256 * 1024

    func channelReadComplete(context: ChannelHandlerContext) {
        flushReplies(context: context)
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        machine.closed()
        context.close(promise: nil)
    }

    /// Decodes and executes buffered commands until the buffer runs dry or a command must wait.
    private func processInbound(context: ChannelHandlerContext) {
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

    /// Takes the proxy's policy if a reload replaced it since this connection last looked.
    @inline(__always)
    private func refreshPolicy() {
        let version = proxy.policies.version.load(ordering: .acquiring)
        guard version != policyVersion else { return }
        policy = proxy.policy
        policyVersion = version
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

    private func protocolError(_ error: RESPProtocolError, context: ChannelHandlerContext) {
        proxy.stats.protocolErrors.increment()
        // Before AUTH, the limits are Redis' small unauthenticated ones: say so.
        let message = session.isAuthenticated ? error.message : error.message + " (before authentication)"
        logger.info("closing connection after protocol error", metadata: ["error": "\(message)"])
        out.writeRESPError("ERR \(message)")
        // Earlier commands' replies still awaited go out first, then the error, then the close.
        if machine.protocolError() == .closeNow { closeAfterWriting(context: context) }
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

    func writeError(_ error: any Error) {
        proxy.stats.errorReplies.increment()
        if let error = error as? ProxyError {
            out.writeRESPError(error.replyText)
        } else {
            logger.error("unexpected error", metadata: ["error": "\(error)"])
            out.writeRESPError("ERR internal error: \(error)")
        }
    }

    /// `host:port` as Redis shows addresses.
    private static func describe(_ address: SocketAddress?) -> String {
        guard let address, let port = address.port else { return "" }
        let host = address.ipAddress ?? ""
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Publishes what `CLIENT LIST` shows of the session: after a change of name, protocol or transaction.
    func sessionChanged() {
        record?.noteSession(
            name: session.name, version: session.version == .v3 ? 3 : 2, queued: session.transaction.queuedCount)
    }

    /// The client gave the right password: from now on it may send commands as large as any.
    func didAuthenticate() {
        session.isAuthenticated = true
        parser.limits = proxy.configuration.protocolLimits
    }

    /// Back to Redis' small limits after `RESET` of an authenticated client.
    func resetToUnauthenticatedLimits() {
        parser.limits = proxy.configuration.protocolLimits.beforeAuthentication
    }

    /// Closes after the replies written so far (QUIT runs only when nothing is awaited).
    func close(context: ChannelHandlerContext) {
        machine.closed()
        closeAfterWriting(context: context)
    }

    /// Writes what is ready and closes: the machine decided the connection ends here.
    private func closeAfterWriting(context: ChannelHandlerContext) {
        flushReplies(context: context)
        context.close(promise: nil)
    }
}
