import Logging
import NIOCore
import NIOSSL
import TierCacheProtocol
import TierCacheStats
import TierCacheSupport

/// A connection's life around its requests: activation (the client limit, `CLIENT LIST`, the periodic limit
/// check), the limits that close it (idle, slow request, unread output, the input budget), pausing for output,
/// the end of input, drain on shutdown, protocol errors and closing. Each asks `ConnectionStateMachine` first.
extension ConnectionHandler {
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
        if ProtectedMode.refuses(context.channel.remoteAddress, configuration, users: proxy.users) {
            proxy.stats.deniedConnections.increment()
            out.writeRESPError(ProtectedMode.message)
            close(context: context)
            return
        }
        let record = ClientRecord(
            id: session.id, address: Self.describe(context.channel.remoteAddress),
            localAddress: Self.describe(context.channel.localAddress), now: clock.monotonicNanoseconds())
        self.record = record
        sessionChanged()
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
    func updateReading(context: ChannelHandlerContext) {
        guard let reading = machine.wantsInput else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
    }

    /// After the client closed its sending side: once every command it sent has been answered, writes the
    /// replies and closes when they are out. (NIO would fail writes still pending at a plain close.) An
    /// incomplete command left in the buffer can never complete, and is dropped.
    func finishIfInputDone(context: ChannelHandlerContext) {
        guard machine.finishIfInputEnded() else { return }
        inbound = nil
        accountInput()
        flushReplies(context: context)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
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

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        if error is NIOSSLError || error is BoringSSLError { proxy.stats.tlsFailures.increment() }
        machine.closed()
        context.close(promise: nil)
    }

    func protocolError(_ error: RESPProtocolError, context: ChannelHandlerContext) {
        proxy.stats.protocolErrors.increment()
        // Before AUTH, the limits are Redis' small unauthenticated ones: say so.
        let message = session.isAuthenticated ? error.message : error.message + " (before authentication)"
        logger.info("closing connection after protocol error", metadata: ["error": "\(message)"])
        out.writeRESPError("ERR \(message)")
        // Earlier commands' replies still awaited go out first, then the error, then the close.
        if machine.protocolError() == .closeNow { closeAfterWriting(context: context) }
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
            name: session.name, user: session.user, version: session.version == .v3 ? 3 : 2, queued: session.transaction.queuedCount)
    }

    /// The client gave the right password for `user`: from now on it may send commands as large as any.
    func didAuthenticate(as user: AccessUser) {
        become(user)
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
    func closeAfterWriting(context: ChannelHandlerContext) {
        flushReplies(context: context)
        context.close(promise: nil)
    }
}
