import NIOCore
import Testing
import TierCacheSupport

@testable import TierCacheServer

/// The connection state machine as a value: pipelining order and barriers, the outstanding bound, input and
/// output pauses, drain, protocol errors, the end of input, and the idle, slow-request and unread-output limits,
/// with a test clock and no sleeps.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    private let clock = TestClock()
    private typealias Machine = ConnectionStateMachine

    private static func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Reserves a reply as the handler does after running a command that must wait.
    private static func reserve(_ machine: inout Machine, barrier: Bool, output: String = "") -> UInt64 {
        var out = bytes(output)
        return machine.reserveReply(barrier: barrier, output: &out).id
    }

    private static func drainReady(_ machine: inout Machine) -> String {
        guard let ready = machine.takeReadyReplies() else { return "" }
        return String(buffer: ready)
    }

    // MARK: Pipelining

    @Test func readsOverlapAndRepliesKeepRequestOrder() {
        var machine = Machine()
        let result1 = machine.decoded(isEmpty: false, mayOverlap: true)
        #expect(result1 == .execute)
        let first = Self.reserve(&machine, barrier: false)
        let result2 = machine.decoded(isEmpty: false, mayOverlap: true)
        #expect(result2 == .execute)
        let second = Self.reserve(&machine, barrier: false)
        #expect(machine.state == .reading)
        #expect(machine.mayDecode)
        #expect(machine.outstanding == 2)

        // The second reply arrives first: it waits behind the first.
        let result3 = machine.replyArrived(id: second, Self.bytes("two;"))
        #expect(result3 == .flushSoon)
        let result4 = Self.drainReady(&machine)
        #expect(result4 == "")
        let result5 = machine.replyArrived(id: first, Self.bytes("one;"))
        #expect(result5 == .flushSoon)
        let result6 = Self.drainReady(&machine)
        #expect(result6 == "one;two;")
        #expect(!machine.awaitsReplies)
    }

    @Test func aBarrierWaitsForEarlierReadsAndStopsLaterCommands() {
        var machine = Machine()
        _ = machine.decoded(isEmpty: false, mayOverlap: true)
        let read = Self.reserve(&machine, barrier: false)
        // SET after an outstanding GET is held until the GET's reply is in.
        let result7 = machine.decoded(isEmpty: false, mayOverlap: false)
        #expect(result7 == .hold)
        #expect(machine.state == .holding(mayOverlap: false))
        #expect(!machine.mayDecode)
        let result8 = machine.replyArrived(id: read, Self.bytes("r;"))
        #expect(result8 == .resume)
        let result9 = machine.resumeHeld()
        #expect(result9)
        #expect(machine.state == .reading)

        // The SET runs and must wait: nothing after it runs before its reply.
        let write = Self.reserve(&machine, barrier: true)
        #expect(machine.state == .awaitingBarrier)
        #expect(!machine.mayDecode)
        let result10 = machine.replyArrived(id: write, Self.bytes("+OK;"))
        #expect(result10 == .resume)
        #expect(machine.state == .reading)
        let result11 = machine.resumeHeld()
        #expect(!result11)
        let result12 = Self.drainReady(&machine)
        #expect(result12 == "r;+OK;")
    }

    @Test func repliesAnsweredAtOnceQueueBehindAnAwaitedOne() {
        var machine = Machine()
        // Nothing awaited: what is in the output buffer goes out before the awaited reply.
        var out = Self.bytes("hit;")
        let (first, writeFirst) = machine.reserveReply(barrier: false, output: &out)
        #expect(writeFirst)
        // Something awaited: the next answered replies take their place behind it.
        out = Self.bytes("hit2;")
        let (second, writeSecond) = machine.reserveReply(barrier: false, output: &out)
        #expect(!writeSecond)
        #expect(out.readableBytes == 0)
        let result13 = machine.replyArrived(id: second, Self.bytes("b;"))
        #expect(result13 == .flushSoon)
        let result14 = machine.replyArrived(id: first, Self.bytes("a;"))
        #expect(result14 == .flushSoon)
        let result15 = Self.drainReady(&machine)
        #expect(result15 == "a;hit2;b;")
    }

    @Test func aDeepPipelineOfReadsWaitsAtTheOutstandingBound() {
        var machine = Machine()
        var ids: [UInt64] = []
        for _ in 0..<Machine.maxOutstanding {
            let result16 = machine.decoded(isEmpty: false, mayOverlap: true)
            #expect(result16 == .execute)
            ids.append(Self.reserve(&machine, barrier: false))
        }
        let result17 = machine.decoded(isEmpty: false, mayOverlap: true)
        #expect(result17 == .hold)
        #expect(machine.state == .holding(mayOverlap: true))
        // One reply in: the held read may run (it overlaps), before all the others are in.
        let result18 = machine.replyArrived(id: ids[5], Self.bytes("x"))
        #expect(result18 == .resume)
        let result19 = machine.resumeHeld()
        #expect(result19)
    }

    @Test func aHeldBarrierRunsOnlyOnceEveryReplyIsIn() {
        var machine = Machine()
        _ = machine.decoded(isEmpty: false, mayOverlap: true)
        let first = Self.reserve(&machine, barrier: false)
        _ = machine.decoded(isEmpty: false, mayOverlap: true)
        let second = Self.reserve(&machine, barrier: false)
        let result20 = machine.decoded(isEmpty: false, mayOverlap: false)
        #expect(result20 == .hold)
        let result21 = machine.replyArrived(id: first, Self.bytes("1"))
        #expect(result21 == .flushSoon)
        #expect(machine.state == .holding(mayOverlap: false))
        let result22 = machine.replyArrived(id: second, Self.bytes("2"))
        #expect(result22 == .resume)
    }

    @Test func emptyCommandsAreSkippedButCountAsProgress() {
        var machine = Machine()
        _ = machine.decoded(isEmpty: false, mayOverlap: true)
        _ = Self.reserve(&machine, barrier: true)
        // Even with a barrier awaited, a blank line never holds (nothing to run).
        let result23 = machine.decoded(isEmpty: true, mayOverlap: false)
        #expect(result23 == .skip)
    }

    @Test func aReplyForAClosedConnectionIsIgnored() {
        var machine = Machine()
        let id = Self.reserve(&machine, barrier: false)
        let result24 = machine.replyArrived(id: id, Self.bytes("a"))
        #expect(result24 == .flushSoon)
        // The same id again (or any unknown one): nothing to do.
        let result25 = machine.replyArrived(id: id, Self.bytes("a"))
        #expect(result25 == .ignore)
        let result26 = machine.replyArrived(id: 999, Self.bytes("a"))
        #expect(result26 == .ignore)
    }

    // MARK: Pauses

    @Test func inputPausesWhenAClientPipelinesFarAheadOfABarrier() {
        var machine = Machine()
        let result27 = machine.received(buffered: 10)
        #expect(result27 == .decode)
        let write = Self.reserve(&machine, barrier: true)
        let result28 = machine.received(buffered: Machine.maxBufferedWhileWaiting)
        #expect(result28 == .keep)
        let result29 = machine.received(buffered: Machine.maxBufferedWhileWaiting + 1)
        #expect(result29 == .pauseInput)
        #expect(machine.wantsInput == false)
        let result30 = machine.received(buffered: Machine.maxBufferedWhileWaiting + 2)
        #expect(result30 == .keep)
        let result31 = machine.replyArrived(id: write, Self.bytes("+OK"))
        #expect(result31 == .resume)
        let result32 = machine.resumeInput()
        #expect(result32)
        #expect(machine.wantsInput == true)
        let result33 = machine.resumeInput()
        #expect(!result33)
    }

    @Test func outputPausesWhileTheClientReadsNothing() {
        var machine = Machine()
        let result34 = machine.flushed(channelWritable: true)
        #expect(!result34)
        let result35 = machine.flushed(channelWritable: false)
        #expect(result35)
        let result36 = machine.flushed(channelWritable: false)  // counted once
        #expect(!result36)
        #expect(!machine.mayDecode)
        #expect(machine.wantsInput == false)
        let result37 = machine.writabilityChanged(channelWritable: false)
        #expect(result37 == .none)
        let result38 = machine.writabilityChanged(channelWritable: true)
        #expect(result38 == .resume(decode: true))
        #expect(machine.mayDecode)
        let result39 = machine.writabilityChanged(channelWritable: true)
        #expect(result39 == .none)
    }

    @Test func outputResumingDuringABarrierDoesNotDecode() {
        var machine = Machine()
        _ = Self.reserve(&machine, barrier: true)
        let result40 = machine.flushed(channelWritable: false)
        #expect(result40)
        let result41 = machine.writabilityChanged(channelWritable: true)
        #expect(result41 == .resume(decode: false))
    }

    // MARK: Closing

    @Test func drainClosesAtOnceWhenNothingIsAwaited() {
        var machine = Machine()
        let result42 = machine.finishStarted()
        #expect(result42 == .closeNow)
        #expect(machine.state == .closing)
        let result43 = machine.finishStarted()
        #expect(result43 == .none)
        #expect(machine.wantsInput == nil)
    }

    @Test func drainWaitsForTheRepliesOfCommandsStarted() {
        var machine = Machine()
        let first = Self.reserve(&machine, barrier: false)
        let second = Self.reserve(&machine, barrier: false)
        let result44 = machine.decoded(isEmpty: false, mayOverlap: false)
        #expect(result44 == .hold)
        let result45 = machine.finishStarted()
        #expect(result45 == .closeWhenReplied)
        #expect(machine.state == .draining)
        // The held command never runs, and nothing more is decoded.
        let result46 = machine.resumeHeld()
        #expect(!result46)
        #expect(!machine.mayDecode)
        #expect(machine.wantsInput == nil)
        let result47 = machine.finishStarted()
        #expect(result47 == .none)
        let result48 = machine.replyArrived(id: second, Self.bytes("2"))
        #expect(result48 == .flushSoon)
        let result49 = machine.replyArrived(id: first, Self.bytes("1"))
        #expect(result49 == .flushAndClose)
        #expect(machine.state == .closing)
        let result50 = Self.drainReady(&machine)
        #expect(result50 == "12")
    }

    @Test func aProtocolErrorClosesAfterTheAwaitedReplies() {
        var machine = Machine()
        let result51 = machine.protocolError()
        #expect(result51 == .closeNow)

        var busy = Machine()
        let id = Self.reserve(&busy, barrier: false)
        let result52 = busy.protocolError()
        #expect(result52 == .closeWhenReplied)
        let result53 = busy.replyArrived(id: id, Self.bytes("r"))
        #expect(result53 == .flushAndClose)
        let result54 = busy.protocolError()
        #expect(result54 == .none)
    }

    @Test func endOfInputClosesOnceEverythingSentIsAnswered() {
        var machine = Machine()
        let result55 = machine.finishIfInputEnded()  // input still open
        #expect(!result55)
        let id = Self.reserve(&machine, barrier: false)
        machine.inputClosed()
        let result56 = machine.finishIfInputEnded()  // a reply is awaited
        #expect(!result56)
        let result57 = machine.replyArrived(id: id, Self.bytes("r"))
        #expect(result57 == .flushSoon)
        let result58 = machine.flushed(channelWritable: false)
        #expect(result58)
        let result59 = machine.finishIfInputEnded()  // the client is not reading
        #expect(!result59)
        _ = machine.writabilityChanged(channelWritable: true)
        let result60 = machine.finishIfInputEnded()
        #expect(result60)
        #expect(machine.state == .closing)
    }

    // MARK: Limits

    private static let idleOnly = Machine.Limits(idleTimeout: .seconds(10), requestTimeout: nil, maxOutputBuffer: nil)

    private func check(
        _ machine: inout Machine, _ limits: Machine.Limits, pendingInput: Int = 0,
        output: Machine.OutputProgress? = nil
    ) -> Machine.LimitVerdict {
        machine.checkLimits(
            now: clock.monotonicNanoseconds(), limits: limits, pendingInput: pendingInput, output: output)
    }

    @Test func anIdleConnectionClosesAfterTheIdleTimeout() {
        var machine = Machine()
        machine.activated(now: clock.monotonicNanoseconds())
        clock.advance(by: .seconds(9))
        let result61 = check(&machine, Self.idleOnly)
        #expect(result61 == .none)
        // Input arrived: idleness counts from the check that saw it.
        _ = machine.received(buffered: 5)
        let result62 = check(&machine, Self.idleOnly)
        #expect(result62 == .none)
        clock.advance(by: .seconds(9))
        let result63 = check(&machine, Self.idleOnly)
        #expect(result63 == .none)
        clock.advance(by: .seconds(1))
        let result64 = check(&machine, Self.idleOnly)
        #expect(result64 == .idle)
        #expect(machine.state == .closing)
    }

    @Test func aConnectionAwaitingAReplyIsNotIdle() {
        var machine = Machine()
        machine.activated(now: clock.monotonicNanoseconds())
        let id = Self.reserve(&machine, barrier: false)
        clock.advance(by: .seconds(60))
        let result65 = check(&machine, Self.idleOnly)
        #expect(result65 == .none)
        _ = machine.replyArrived(id: id, Self.bytes("r"))
        _ = machine.takeReadyReplies()
        let result66 = check(&machine, Self.idleOnly)
        #expect(result66 == .idle)
    }

    @Test func aCommandLeftIncompleteTimesOut() {
        let limits = Machine.Limits(idleTimeout: nil, requestTimeout: .seconds(5), maxOutputBuffer: nil)
        var machine = Machine()
        machine.activated(now: clock.monotonicNanoseconds())
        // The first check that sees an incomplete command starts its clock.
        let result67 = check(&machine, limits, pendingInput: 3)
        #expect(result67 == .none)
        clock.advance(by: .seconds(4))
        let result68 = check(&machine, limits, pendingInput: 3)
        #expect(result68 == .none)
        // A command decoded since: progress, the clock starts again.
        _ = machine.decoded(isEmpty: false, mayOverlap: true)
        let result69 = check(&machine, limits, pendingInput: 3)
        #expect(result69 == .none)
        clock.advance(by: .seconds(4))
        let result70 = check(&machine, limits, pendingInput: 3)
        #expect(result70 == .none)
        clock.advance(by: .seconds(1))
        let result71 = check(&machine, limits, pendingInput: 3)
        #expect(result71 == .requestTimedOut(.seconds(5)))
        #expect(machine.state == .closing)
    }

    @Test func aSlowRequestIsNotTimedWhileTheServerIsTheOneWaiting() {
        let limits = Machine.Limits(idleTimeout: nil, requestTimeout: .seconds(5), maxOutputBuffer: nil)
        var machine = Machine()
        _ = Self.reserve(&machine, barrier: false)  // a read awaited: the wait is ours
        let result72 = check(&machine, limits, pendingInput: 3)
        #expect(result72 == .none)
        clock.advance(by: .seconds(60))
        let result73 = check(&machine, limits, pendingInput: 3)
        #expect(result73 == .none)

        var paused = Machine()
        let result74 = paused.flushed(channelWritable: false)  // input complete, just not decoded
        #expect(result74)
        let result75 = check(&paused, limits, pendingInput: 3)
        #expect(result75 == .none)
        clock.advance(by: .seconds(60))
        let result76 = check(&paused, limits, pendingInput: 3)
        #expect(result76 == .none)

        var empty = Machine()
        let result77 = check(&empty, limits)
        #expect(result77 == .none)
        clock.advance(by: .seconds(60))
        let result78 = check(&empty, limits)
        #expect(result78 == .none)
    }

    @Test func unreadOutputOverTheLimitClosesWhenTheClientReadsNothing() {
        let limits = Machine.Limits(idleTimeout: nil, requestTimeout: nil, maxOutputBuffer: 1000)
        var machine = Machine()
        let result79 = machine.flushed(channelWritable: false)
        #expect(result79)
        // First sight over the limit: remembered, not judged.
        let result80 = check(&machine, limits, output: .init(unsent: 5000, acknowledged: 100))
        #expect(result80 == .none)
        // The client acknowledged more since: it reads, however slowly.
        let result81 = check(&machine, limits, output: .init(unsent: 5000, acknowledged: 200))
        #expect(result81 == .none)
        // Nothing acknowledged since the last check: closed.
        let result82 = check(&machine, limits, output: .init(unsent: 6000, acknowledged: 200))
        #expect(result82 == .outputUnread(unsent: 6000))
        #expect(machine.state == .closing)
    }

    @Test func withoutAcknowledgementsShrinkingOutputCountsAsReading() {
        let limits = Machine.Limits(idleTimeout: nil, requestTimeout: nil, maxOutputBuffer: 1000)
        var machine = Machine()
        let result83 = machine.flushed(channelWritable: false)
        #expect(result83)
        let result84 = check(&machine, limits, output: .init(unsent: 5000, acknowledged: nil))
        #expect(result84 == .none)
        let result85 = check(&machine, limits, output: .init(unsent: 4000, acknowledged: nil))
        #expect(result85 == .none)
        // Under the limit: forgotten.
        let result86 = check(&machine, limits, output: .init(unsent: 500, acknowledged: nil))
        #expect(result86 == .none)
        let result87 = check(&machine, limits, output: .init(unsent: 5000, acknowledged: nil))
        #expect(result87 == .none)
        let result88 = check(&machine, limits, output: .init(unsent: 5000, acknowledged: nil))
        #expect(result88 == .outputUnread(unsent: 5000))
    }

    @Test func unsentOutputIsNotJudgedWhileOutputIsNotPaused() {
        let limits = Machine.Limits(idleTimeout: nil, requestTimeout: nil, maxOutputBuffer: 1000)
        var machine = Machine()
        let result89 = check(&machine, limits, output: .init(unsent: 5000, acknowledged: 1))
        #expect(result89 == .none)
        let result90 = check(&machine, limits, output: .init(unsent: 5000, acknowledged: 1))
        #expect(result90 == .none)
    }
}
