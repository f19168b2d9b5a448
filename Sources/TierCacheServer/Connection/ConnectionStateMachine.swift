import NIOCore
import TierCacheSupport

/// The life of one client connection as a value: when it may decode, which command waits for which reply, when
/// replies may be written, when it stops reading, and when and why it closes. `ConnectionHandler` feeds it what
/// happened (a command decoded, a reply arrived, the socket's writability changed, a limit check ran, a drain was
/// asked) and performs the action it answers; the machine itself does no I/O and reads no clock, so every path is
/// tested as a value (`ConnectionStateMachineTests`).
///
/// Pipelined reads overlap: a read that must wait (L2 round trip, database load) takes a place in the reply order
/// and decoding goes on. Any other command is a barrier: it runs only once every earlier reply is in (`holding`),
/// and nothing after it runs before its own reply (`awaitingBarrier`). What a client queues after `MULTI` and the
/// keys it watches are the session's (`ClientSession`), not the connection's: every queued command answers at once.
struct ConnectionStateMachine {
    enum State: Equatable {
        /// Decoding and executing; reads may be outstanding.
        case reading
        /// A barrier command's reply is outstanding: nothing after it runs before it is in.
        case awaitingBarrier
        /// A decoded command waits for the outstanding replies: it is a barrier, or too many are outstanding.
        /// `mayOverlap`: it is a read, which may run as soon as fewer than `maxOutstanding` are.
        case holding(mayOverlap: Bool)
        /// Nothing more runs: the commands started finish, their replies go out, then the connection closes
        /// (a drain at shutdown, a protocol error, the input budget).
        case draining
        /// Closed, or closing once what is written is out. Final.
        case closing
    }

    /// A reply's place in the output order: still awaited, or bytes ready to go.
    private enum ReplySlot {
        case awaited(id: UInt64)
        case ready(ByteBuffer)
    }

    /// Replies awaited at once by one connection; a deeper pipeline waits (bounds Redis and backend queues).
    static let maxOutstanding = 64
    /// Input buffered while a barrier's reply is awaited, beyond which the connection stops reading.
    static let maxBufferedWhileWaiting = 1 << 20

    private(set) var state = State.reading
    /// Replies awaited now.
    private(set) var outstanding = 0
    /// Reading stopped because a client pipelined far ahead of a reply still awaited.
    private(set) var inputPaused = false
    /// Decoding and reading stopped because the client is not reading its replies (the channel is unwritable).
    private(set) var outputPaused = false
    /// The client shut down its sending side (`nc -N`, `shutdown(SHUT_WR)`): what it sent is still answered,
    /// then the connection closes.
    private(set) var inputEnded = false
    /// Replies that precede the handler's output buffer, from the first awaited one on. Empty when nothing is
    /// awaited: then the output buffer follows everything already written.
    private var slots: [ReplySlot] = []
    private var nextReplyID: UInt64 = 0
    /// Input arrived since the last limit check; the check turns it into `lastActivity`, so reads take no clock.
    private var sawInput = false
    private var lastActivity: UInt64 = 0
    /// Commands decoded so far, and when the limit check first saw an incomplete command with no progress since.
    private var commandsDecoded = 0
    private var partial: (since: UInt64, commandsDecoded: Int)?
    /// At the last output check, when the unread replies were over the limit: how many bytes were unsent, and how
    /// many the client had acknowledged in all.
    private var outputOverLimit: (unsent: Int, acknowledged: UInt64?)?

    /// Whether a reply is awaited or ready behind an awaited one (then new output must queue behind it).
    var awaitsReplies: Bool { !slots.isEmpty }

    /// Whether the next command may be decoded now.
    var mayDecode: Bool {
        if case .reading = state { !outputPaused } else { false }
    }

    /// Whether the socket should be read from; nil once the connection is draining or closing (reading stays as
    /// it was set then).
    var wantsInput: Bool? {
        switch state {
        case .draining, .closing: nil
        case .reading, .awaitingBarrier, .holding: !inputPaused && !outputPaused
        }
    }

    // MARK: Input

    /// The connection became active at `now`: idleness counts from here.
    mutating func activated(now: UInt64) {
        lastActivity = now
    }

    enum ReceiveAction: Equatable {
        /// Decode what arrived.
        case decode
        /// Stop reading: the client pipelines far ahead of a reply still awaited.
        case pauseInput
        /// Keep it for later.
        case keep
    }

    /// Bytes arrived; `buffered` is all the input not yet decoded.
    mutating func received(buffered: Int) -> ReceiveAction {
        sawInput = true
        switch state {
        case .reading:
            return .decode
        case .awaitingBarrier, .holding:
            guard buffered > Self.maxBufferedWhileWaiting, !inputPaused else { return .keep }
            inputPaused = true
            return .pauseInput
        case .draining, .closing:
            return .keep
        }
    }

    enum DecodeAction: Equatable {
        case execute
        /// Keep the command until the awaited replies are in (`resumeHeld`).
        case hold
        /// An empty command (a blank inline line): nothing to run.
        case skip
    }

    /// A command was decoded; `mayOverlap`: it is a read (asked only while replies are outstanding, so the hit
    /// path never looks the command up twice).
    @inline(__always)
    mutating func decoded(isEmpty: Bool, mayOverlap: @autoclosure () -> Bool) -> DecodeAction {
        commandsDecoded &+= 1
        if isEmpty { return .skip }
        guard outstanding > 0 else { return .execute }
        let overlaps = mayOverlap()
        guard outstanding >= Self.maxOutstanding || !overlaps else { return .execute }
        state = .holding(mayOverlap: overlaps)
        return .hold
    }

    /// Whether a held command is to run now (first, before anything else is decoded).
    mutating func resumeHeld() -> Bool {
        guard case .holding = state else { return false }
        state = .reading
        return true
    }

    /// The client closed its sending side.
    mutating func inputClosed() {
        inputEnded = true
    }

    /// Whether the client closed its sending side and every command it sent is answered: then the replies go out
    /// and the connection closes (an incomplete command left can never complete).
    mutating func finishIfInputEnded() -> Bool {
        guard inputEnded, case .reading = state, outstanding == 0, !outputPaused else { return false }
        state = .closing
        return true
    }

    // MARK: Replies

    /// Takes the next place in the reply order for a reply that will come through `replyArrived`. Replies
    /// already in `output` precede it: when nothing is awaited they can be written now (`writeOutputFirst`);
    /// otherwise they take their place in the order and `output` starts afresh.
    mutating func reserveReply(barrier: Bool, output: inout ByteBuffer) -> (id: UInt64, writeOutputFirst: Bool) {
        var writeOutputFirst = false
        if output.readableBytes > 0 {
            if slots.isEmpty {
                writeOutputFirst = true
            } else {
                slots.append(.ready(output))
                output = ByteBufferAllocator().buffer(capacity: 256)
            }
        }
        nextReplyID &+= 1
        slots.append(.awaited(id: nextReplyID))
        outstanding += 1
        if barrier { state = .awaitingBarrier }
        return (nextReplyID, writeOutputFirst)
    }

    enum ArrivalAction: Equatable {
        /// The connection closed meanwhile: drop it.
        case ignore
        /// Decode and run what waited for it (resume input if it was paused: `resumeInput`), then flush.
        case resume
        /// Flush at the end of this event loop tick, with the other replies completing in it.
        case flushSoon
        /// The last reply a draining connection waited for: flush and close.
        case flushAndClose
    }

    /// A reserved reply is here.
    mutating func replyArrived(id: UInt64, _ reply: ByteBuffer) -> ArrivalAction {
        guard let index = slots.firstIndex(where: { if case .awaited(id) = $0 { true } else { false } }) else {
            return .ignore
        }
        slots[index] = .ready(reply)
        outstanding -= 1
        switch state {
        case .awaitingBarrier:
            state = .reading
            return .resume
        case .holding(let mayOverlap) where outstanding == 0 || (outstanding < Self.maxOutstanding && mayOverlap):
            return .resume
        case .draining where outstanding == 0:
            state = .closing
            return .flushAndClose
        default:
            return .flushSoon
        }
    }

    /// Whether reading should resume now that what waited ran: it was paused for input and decoding goes on.
    mutating func resumeInput() -> Bool {
        guard inputPaused, case .reading = state else { return false }
        inputPaused = false
        return true
    }

    /// The replies at the head of the order that are ready, up to the first one still awaited, as one buffer
    /// (for replies of a few dozen bytes a copy costs less than a pending write each); nil when none is.
    mutating func takeReadyReplies() -> ByteBuffer? {
        var ready = 0
        var bytes = 0
        for slot in slots {
            guard case .ready(let reply) = slot else { break }
            ready += 1
            bytes += reply.readableBytes
        }
        guard ready > 0 else { return nil }
        defer { slots.removeFirst(ready) }
        if ready == 1, case .ready(let reply) = slots[0] { return reply }
        var combined = ByteBufferAllocator().buffer(capacity: bytes)
        for case .ready(var reply) in slots.prefix(ready) { combined.writeBuffer(&reply) }
        return combined
    }

    // MARK: Output

    /// Replies were flushed; whether the channel was left unwritable makes the connection pause: the client is
    /// not reading, so decode nothing more and its replies can't pile up here. True when it paused just now.
    mutating func flushed(channelWritable: Bool) -> Bool {
        guard !channelWritable, !outputPaused else { return false }
        outputPaused = true
        return true
    }

    enum WritabilityAction: Equatable {
        case none
        /// The client read its replies: update reading, and decode (`decode`) what waited.
        case resume(decode: Bool)
    }

    mutating func writabilityChanged(channelWritable: Bool) -> WritabilityAction {
        guard outputPaused, channelWritable else { return .none }
        outputPaused = false
        outputOverLimit = nil
        if case .reading = state { return .resume(decode: true) }
        return .resume(decode: false)
    }

    // MARK: Closing

    enum CloseAction: Equatable {
        case none
        /// Close once what is written is out.
        case closeNow
        /// Replies are awaited: they go out first, then the connection closes (`replyArrived` says when).
        case closeWhenReplied
    }

    /// Stops running commands and closes once the commands already executing have their replies out: a graceful
    /// shutdown's drain, the input budget. Input not yet run is dropped, never half done (nothing is acknowledged
    /// that did not run); a held command has not run either.
    mutating func finishStarted() -> CloseAction {
        switch state {
        case .draining, .closing:
            return .none
        case .reading, .awaitingBarrier, .holding:
            return stopAfterOutstanding()
        }
    }

    /// A protocol error: the error reply follows the replies awaited before it, then the connection closes.
    mutating func protocolError() -> CloseAction {
        if case .closing = state { return .none }
        return stopAfterOutstanding()
    }

    private mutating func stopAfterOutstanding() -> CloseAction {
        if outstanding > 0 {
            state = .draining
            return .closeWhenReplied
        }
        state = .closing
        return .closeNow
    }

    /// The connection closes now (QUIT, a limit, an error, the channel gone).
    mutating func closed() {
        state = .closing
    }

    // MARK: Limits

    /// The limits the periodic check enforces (`--idle-timeout`, `--request-timeout`, `--max-output-buffer`).
    struct Limits: Equatable {
        var idleTimeout: Duration?
        var requestTimeout: Duration?
        var maxOutputBuffer: Int?
    }

    /// What the channel told the check about its unsent output.
    struct OutputProgress: Equatable {
        /// Bytes written to the channel and not yet taken by the kernel.
        var unsent: Int
        /// Bytes the client's TCP stack acknowledged in all, where the kernel can say.
        var acknowledged: UInt64?
    }

    enum LimitVerdict: Equatable {
        case none
        /// Nothing received and nothing awaited for `--idle-timeout`.
        case idle
        /// The current command stayed incomplete for this long (`--request-timeout`) while the connection was ready
        /// to read it: a slowloris.
        case requestTimedOut(Duration)
        /// The client left more than `--max-output-buffer` of replies unread and read none since the last check.
        case outputUnread(unsent: Int)
    }

    /// The periodic check, at `now`. `pendingInput`: undecoded bytes held; `output`: the channel's unsent bytes,
    /// asked only while output is paused (nil otherwise, or when the channel can't say).
    mutating func checkLimits(
        now: UInt64,
        limits: Limits,
        pendingInput: Int,
        output: OutputProgress?
    ) -> LimitVerdict {
        if let limit = limits.maxOutputBuffer, outputUnread(limit: limit, output: output) {
            state = .closing
            return .outputUnread(unsent: output?.unsent ?? 0)
        }
        guard case .reading = state else {
            partial = nil
            return .none
        }
        if sawInput {
            sawInput = false
            lastActivity = now
        }
        let idle = outstanding == 0 && slots.isEmpty
        if let timeout = limits.idleTimeout, idle, now &- lastActivity >= UInt64(clamping: timeout.wholeNanoseconds) {
            state = .closing
            return .idle
        }
        // Only while nothing is awaited: then the wait is the client's alone, and the error goes out at once. Not
        // while decoding waits for the client to read its replies: then the input is complete, just not decoded.
        guard let timeout = limits.requestTimeout, idle, !outputPaused, pendingInput > 0 else {
            partial = nil
            return .none
        }
        guard let partial, partial.commandsDecoded == commandsDecoded else {
            self.partial = (now, commandsDecoded)  // a new incomplete command, or progress since the last check
            return .none
        }
        guard now &- partial.since >= UInt64(clamping: timeout.wholeNanoseconds) else { return .none }
        state = .closing
        return .requestTimedOut(timeout)
    }

    /// Whether the client left more than `limit` bytes of replies unread and read none of them since the last
    /// check. Reading is told by the bytes its TCP stack acknowledged, which grow as it reads however seldom the
    /// kernel takes more from NIO; where the kernel can't say, by the unsent bytes shrinking.
    private mutating func outputUnread(limit: Int, output: OutputProgress?) -> Bool {
        guard outputPaused, let output, output.unsent > limit else {
            outputOverLimit = nil
            return false
        }
        let previous = outputOverLimit
        outputOverLimit = (output.unsent, output.acknowledged)
        guard let previous else { return false }
        if let now = output.acknowledged, let before = previous.acknowledged {
            if now > before { return false }
        } else if output.unsent < previous.unsent {
            return false
        }
        return true
    }
}
