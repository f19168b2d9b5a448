import NIOCore
import NIOEmbedded
import Testing
import TierCacheStats
import TierCacheSupport

@testable import TierCacheServer

/// `ConnectionHandler` on a test channel over a real proxy (SQLite file, the thread pool): what the state machine
/// decides reaches the client as it should. Time is a `TestClock` and the test loop's clock, moved by the test.
/// (The unread-output limit needs the socket's unsent byte count, which a test channel does not have: its
/// decisions are covered by `ConnectionStateMachineTests`, end to end by `test_hardening.py`.)
@Suite("Connection handler", .timeLimit(.minutes(1)))
struct ConnectionHandlerTests {
    private let clock = TestClock()

    private static func connect(_ harness: ProxyTestHarness) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        let proxy = harness.proxy
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(ConnectionHandler(proxy: proxy))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000))
        return channel
    }

    private static func send(_ channel: NIOAsyncTestingChannel, _ text: String) async throws {
        try await channel.writeInbound(ByteBuffer(string: text))
    }

    /// Reads replies until `expected`'s length arrived, and returns what did.
    private static func read(_ channel: NIOAsyncTestingChannel, _ expected: String) async throws -> String {
        var text = ""
        while text.utf8.count < expected.utf8.count {
            let buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            text += String(buffer: buffer)
        }
        return text
    }

    /// Lets the periodic limit check run now (it notes what happened since the last one), then moves the proxy's
    /// clock and lets it run again at the new time.
    private func pass(_ duration: Duration, _ channel: NIOAsyncTestingChannel) async {
        await channel.testingEventLoop.advanceTime(by: .seconds(1))
        clock.advance(by: duration)
        await channel.testingEventLoop.advanceTime(by: .seconds(1))
    }

    @Test func pipelinedRepliesKeepOrderAndAWriteWaitsForTheReadsBeforeIt() async throws {
        let harness = try ProxyTestHarness(clock: clock)
        let channel = try await Self.connect(harness)
        // The first GET loads from the database; the SET behind it is a barrier, so the GET reads the old row and
        // the GET after the SET reads the new one.
        try await Self.send(channel, "GET item:1\r\nSET item:1 new\r\nGET item:1\r\nGET item:2\r\nPING\r\n")
        let expected = "$3\r\none\r\n+OK\r\n$3\r\nnew\r\n$3\r\ntwo\r\n+PONG\r\n"
        #expect(try await Self.read(channel, expected) == expected)
        _ = try await channel.finish()
    }

    @Test func drainFinishesTheCommandStartedAndRunsNothingAfterIt() async throws {
        let harness = try ProxyTestHarness(clock: clock)
        let channel = try await Self.connect(harness)
        harness.gate.closeAfterNextRead()
        try await Self.send(channel, "GET item:1\r\n")
        await harness.gate.waitForHeldRead()
        channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Drain())
        // Sent after the drain began: never run.
        try await Self.send(channel, "SET item:1 late\r\n")
        harness.gate.open()
        #expect(try await Self.read(channel, "$3\r\none\r\n") == "$3\r\none\r\n")
        try await channel.closeFuture.get()
        #expect(try await harness.query("SELECT data FROM items WHERE id = '1'").contains("one"))
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        let harness = try ProxyTestHarness(clock: clock) { $0.idleTimeout = .seconds(10) }
        let channel = try await Self.connect(harness)
        try await Self.send(channel, "PING\r\n")
        #expect(try await Self.read(channel, "+PONG\r\n") == "+PONG\r\n")
        await pass(.seconds(5), channel)
        #expect(channel.isActive)
        await pass(.seconds(6), channel)
        try await channel.closeFuture.get()
        #expect(harness.proxy.stats.idleClosed.current == 1)
    }

    @Test func aCommandLeftIncompleteIsAnsweredWithAnErrorAndClosed() async throws {
        let harness = try ProxyTestHarness(clock: clock) { $0.requestTimeout = .seconds(5) }
        let channel = try await Self.connect(harness)
        try await Self.send(channel, "*2\r\n$3\r\nGET\r\n")
        await pass(.seconds(3), channel)
        #expect(channel.isActive)
        await pass(.seconds(3), channel)
        let expected = "-ERR request not completed within 5000 ms; closing the connection\r\n"
        #expect(try await Self.read(channel, expected) == expected)
        try await channel.closeFuture.get()
        #expect(harness.proxy.stats.slowRequestsClosed.current == 1)
    }

    @Test func decodingPausesWhileTheClientReadsNoRepliesAndResumesWhenItDoes() async throws {
        let harness = try ProxyTestHarness(clock: clock)
        let channel = try await Self.connect(harness)
        channel.isWritable = false
        try await Self.send(channel, "PING\r\nPING\r\n")
        #expect(try await Self.read(channel, "+PONG\r\n+PONG\r\n") == "+PONG\r\n+PONG\r\n")
        #expect(harness.proxy.stats.outputPaused.current == 1)
        try await Self.send(channel, "ECHO hi\r\n")
        #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(try await Self.read(channel, "$2\r\nhi\r\n") == "$2\r\nhi\r\n")
        _ = try await channel.finish()
    }
}
