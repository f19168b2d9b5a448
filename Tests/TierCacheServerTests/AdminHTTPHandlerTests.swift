import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import TierCacheServer

@Suite("Admin HTTP connections")
struct AdminHTTPHandlerTests {
    private func channel(_ harness: ProxyTestHarness) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(routes: AdminRoutes(proxy: harness.proxy)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9680)).wait()
        return channel
    }

    @Test("a connection idle between requests is closed when the idle timer says so")
    func idleIsClosed() throws {
        let harness = try ProxyTestHarness()
        let channel = try channel(harness)
        #expect(channel.isActive)
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.read)
        #expect(!channel.isActive)
    }

    @Test("an event stream's viewer stays open when idle, and other events pass on")
    func viewerStays() throws {
        let harness = try ProxyTestHarness()
        let channel = try channel(harness)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/events")
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        channel.embeddedEventLoop.run()
        guard case .head(let response)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
            Issue.record("no response head")
            return
        }
        #expect(
            response.status == .ok
                && response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true)
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.read)
        #expect(channel.isActive)
        #expect(harness.proxy.events.viewerCount == 1)
        _ = try channel.finish()
    }
}
