import Logging
import NIOCore
import TierCacheCache
import TierCacheProtocol
import TierCacheStats

/// One client connection: decodes requests in place from the read buffer, answers L1 hits synchronously,
/// hands misses and writes to the backend thread pool, and writes replies in request order.
///
/// Pipelined requests are answered in order by processing them one at a time: while a reply is awaited
/// (`.waiting`), further input stays buffered undecoded. Replies accumulate in one output buffer that is
/// flushed once per read batch, and reused when the socket took it all.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Transitions: `.ready` → `.waiting` (a command went to the backend) → `.ready` (its reply was written);
    /// any → `.closing` (QUIT, protocol error, channel gone), which is final.
    enum State {
        case ready
        case waiting
        case closing
    }

    let proxy: Proxy
    var session: ClientSession
    var state = State.ready
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
    private var hitGroups: [Int32] = []
    let logger: Logger
    private var readingPaused = false

    init(proxy: Proxy) {
        self.proxy = proxy
        self.parser = RESPRequestParser(limits: proxy.configuration.protocolLimits)
        self.session = ClientSession(
            id: proxy.connectionIDs.next(),
            requiresPassword: proxy.configuration.requirePassword != nil
        )
        var logger = proxy.logger
        logger[metadataKey: "connection"] = "\(session.id)"
        self.logger = logger
        arguments.reserveCapacity(8)
    }

    func channelActive(context: ChannelHandlerContext) {
        out = context.channel.allocator.buffer(capacity: 4096)
        proxy.stats.connectionsOpen.increment()
        proxy.stats.connectionsAccepted.increment()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        proxy.stats.connectionsOpen.decrement()
        state = .closing
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if inbound == nil {
            inbound = buffer
        } else {
            inbound?.writeBuffer(&buffer)
        }
        switch state {
        case .ready:
            processInbound(context: context)
        case .waiting:
            // A client pipelining far ahead of a slow backend reply: stop reading until the reply is out, so
            // its input can't grow without bound.
            if (inbound?.readableBytes ?? 0) > Self.maxBufferedWhileWaiting, !readingPaused {
                readingPaused = true
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
            }
        case .closing:
            break
        }
    }

    /// Input buffered while a command waits for the backend, beyond which the connection stops reading.
    static let maxBufferedWhileWaiting = 1 << 20
    static let commandsPerClockRead = 32

    func channelReadComplete(context: ChannelHandlerContext) {
        flushReplies(context: context)
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        state = .closing
        context.close(promise: nil)
    }

    /// Decodes and executes buffered commands until the buffer runs dry or a command must wait.
    private func processInbound(context: ChannelHandlerContext) {
        // One clock read per batch start: the latency of the batch's commands is measured from it. For expiry,
        // "now" is re-read every `commandsPerClockRead` commands, so a long pipeline can't serve an entry more
        // than a few microseconds past its expiry.
        let batchStarted = monotonicNanoseconds()
        defer { recordBatch(started: batchStarted) }
        guard var buffer = inbound else { return }
        inbound = nil
        var now = batchStarted
        var sinceClockRead = 0
        while case .ready = state {
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
                now = monotonicNanoseconds()
                sinceClockRead = 0
            }
            if !arguments.isEmpty { execute(now: now, context: context) }
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
        for group in hitGroups {
            proxy.counters(ofGroup: group).l1.hits.increment(by: hitsInBatch[Int(group)])
            hitsInBatch[Int(group)] = 0
        }
        hitGroups.removeAll(keepingCapacity: true)
        guard !answeredKinds.isEmpty else { return }
        let elapsed = monotonicNanoseconds() &- started
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

    func flushReplies(context: ChannelHandlerContext) {
        guard out.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        // If the socket took everything, NIO released its reference and clearing reuses the storage.
        out.clear()
    }

    private func protocolError(_ error: RESPProtocolError, context: ChannelHandlerContext) {
        proxy.stats.protocolErrors.increment()
        logger.info("closing connection after protocol error", metadata: ["error": "\(error.message)"])
        out.writeRESPError("ERR \(error.message)")
        state = .closing
        flushReplies(context: context)
        context.close(promise: nil)
    }

    // MARK: Replies from the backend

    /// Parks the connection until `reply` completes, then writes it and resumes decoding.
    func awaitReply(
        _ reply: EventLoopFuture<ByteBuffer>,
        command: CommandKind,
        started: UInt64,
        context: ChannelHandlerContext
    ) {
        state = .waiting
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        reply.whenComplete { result in
            let (handler, context) = bound.value
            handler.replyArrived(result, command: command, started: started, context: context)
        }
    }

    private func replyArrived(
        _ result: Result<ByteBuffer, any Error>,
        command: CommandKind,
        started: UInt64,
        context: ChannelHandlerContext
    ) {
        guard case .waiting = state else { return }
        switch result {
        case .success(var bytes):
            out.writeBuffer(&bytes)
        case .failure(let error):
            writeError(error)
        }
        proxy.stats.recorder(for: command).record(nanoseconds: monotonicNanoseconds() &- started)
        proxy.stats.commandsProcessed.increment()
        state = .ready
        processInbound(context: context)
        flushReplies(context: context)
        if readingPaused, case .ready = state {
            readingPaused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
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

    func close(context: ChannelHandlerContext) {
        state = .closing
        flushReplies(context: context)
        context.close(promise: nil)
    }
}
