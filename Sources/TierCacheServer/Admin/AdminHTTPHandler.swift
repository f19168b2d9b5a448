import NIOCore
import NIOHTTP1

/// One admin HTTP connection: reads a request (a body is not wanted, and more than `maxBodyBytes` of one closes
/// the connection), answers it through `AdminRoutes`, and keeps the connection for the next when the client
/// asks to. Requests on one connection are answered in order. A connection that sends nothing for `idleTimeout`
/// between requests is closed (an `IdleStateHandler` ahead of it says when); an event stream's viewer is not, as
/// it only listens.
final class AdminHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxBodyBytes = 64 * 1024
    /// How long a connection may wait between requests (Prometheus scrapes every 15 s or so, reusing it).
    static let idleTimeout: TimeAmount = .seconds(60)

    private let routes: AdminRoutes
    private var state = State.idle

    private enum State {
        case idle
        case reading(HTTPRequestHead, bodyBytes: Int)
        /// Answering; the client's next request waits in NIO's pipeline (it holds reads meanwhile).
        case answering
        case closing
        /// A viewer of the event stream until it closes: further requests are not answered.
        case streaming
    }

    init(routes: AdminRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            state = .reading(head, bodyBytes: 0)
        case (.body(let body), .reading(let head, let bytes)):
            let total = bytes + body.readableBytes
            guard total <= Self.maxBodyBytes else {
                state = .closing
                let response = AdminResponse.error(.payloadTooLarge, "a request body is not expected here")
                write(response, for: head, keepAlive: false, context: context)
                return
            }
            state = .reading(head, bodyBytes: total)
        case (.end, .reading(let head, _)):
            state = .answering
            let keepAlive = head.isKeepAlive
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let answer = routes.respond(to: head, from: context.channel.remoteAddress, on: context.eventLoop)
            answer.whenComplete { result in
                let (handler, context) = loopBound.value
                let response =
                    switch result {
                    case .success(let response): response
                    case .failure(let error): AdminResponse.error(.internalServerError, "\(error)")
                    }
                if response.isEventStream, head.method == .GET, response.status == .ok {
                    handler.state = .streaming
                    handler.routes.proxy.events.add(context.channel, version: head.version, proxy: handler.routes.proxy)
                    return
                }
                handler.state = keepAlive ? .idle : .closing
                handler.write(response, for: head, keepAlive: keepAlive, context: context)
            }
        default:
            // Parts after a refusal, or out of order (NIO's decoder does not produce them): ignored.
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .read? = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch state {
        case .idle, .reading, .closing:
            state = .closing
            context.close(promise: nil)
        case .answering, .streaming:
            break
        }
    }

    private func write(
        _ response: AdminResponse, for head: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext
    ) {
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let responseHead = HTTPResponseHead(version: head.version, status: response.status, headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            done.futureResult.whenComplete { _ in context.close(promise: nil) }
        }
    }
}
