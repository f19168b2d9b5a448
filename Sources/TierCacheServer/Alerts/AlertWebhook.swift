import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import TierCacheStats

/// Posts alert notifications as JSON to `--alert-webhook`: one at a time and in order, on one event loop; each
/// with a 2 s connect and 5 s answer timeout and up to 3 attempts (1 s, then 2 s apart). At most 100 wait; beyond
/// that the oldest is dropped. A dead or slow receiver costs the proxy a queue of 100 small strings, nothing on
/// the request path.
public final class AlertWebhook: Sendable {
    public struct Target: Sendable, Equatable, CustomStringConvertible {
        var secure: Bool
        var host: String
        var port: Int
        var path: String

        /// `http://host[:port][/path]` or `https://…`; nil otherwise.
        public init?(_ url: String) {
            let rest: Substring
            if url.hasPrefix("http://") {
                secure = false
                rest = url.dropFirst(7)
            } else if url.hasPrefix("https://") {
                secure = true
                rest = url.dropFirst(8)
            } else {
                return nil
            }
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            path = slash == rest.endIndex ? "/" : String(rest[slash...])
            if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
                guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else {
                    return nil
                }
                self.port = port
                host = String(authority[..<colon])
            } else {
                port = secure ? 443 : 80
                host = String(authority)
            }
            host = host.trimmingPrefix("[").description
            if host.hasSuffix("]") { host.removeLast() }
            guard !host.isEmpty, !host.contains("@") else { return nil }
        }

        public var description: String { "\(secure ? "https" : "http")://\(host):\(port)\(path)" }
    }

    static let maxPending = 100
    static let attempts = 3
    static let connectTimeout: TimeAmount = .seconds(2)
    static let answerTimeout: TimeAmount = .seconds(5)

    let target: Target
    private let eventLoop: any EventLoop
    private let tls: NIOSSLContext?
    private let logger: Logger
    private let queue = Mutex(Queue())
    private let sent = Counter()
    private let failedAttempts = Counter()
    private let dropped = Counter()

    private struct Queue {
        var pending: [String] = []
        var sending = false
    }

    init(target: Target, eventLoop: any EventLoop, logger: Logger) throws {
        self.target = target
        self.eventLoop = eventLoop
        self.logger = logger
        self.tls = target.secure ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil
    }

    /// Queues `json` for posting.
    func post(_ json: String) {
        let start = queue.withLock { queue -> Bool in
            queue.pending.append(json)
            if queue.pending.count > Self.maxPending {
                queue.pending.removeFirst()
                dropped.increment()
            }
            guard !queue.sending else { return false }
            queue.sending = true
            return true
        }
        if start { eventLoop.execute { self.sendNext() } }
    }

    var report: StatsNode {
        .map([
            ("url", .text(target.description)),
            ("sent", .integer(Int64(sent.current))),
            ("failed_attempts", .integer(Int64(failedAttempts.current))),
            ("dropped", .integer(Int64(dropped.current))),
            ("pending", .integer(Int64(queue.withLock { $0.pending.count }))),
        ])
    }

    private func sendNext() {
        guard let json = queue.withLock({ $0.pending.first }) else { return }
        attempt(json, number: 1)
    }

    private func attempt(_ json: String, number: Int) {
        send(json).whenComplete { result in
            switch result {
            case .success:
                self.sent.increment()
                self.finished()
            case .failure(let error):
                self.failedAttempts.increment()
                guard number < Self.attempts else {
                    self.dropped.increment()
                    self.logger.warning("alert webhook \(self.target): gave up after \(number) attempts: \(error)")
                    self.finished()
                    return
                }
                self.eventLoop.scheduleTask(in: .seconds(Int64(number))) { self.attempt(json, number: number + 1) }
            }
        }
    }

    /// The head of the queue is done (sent or given up): on to the next, or idle.
    private func finished() {
        let more = queue.withLock { queue -> Bool in
            if !queue.pending.isEmpty { queue.pending.removeFirst() }
            queue.sending = !queue.pending.isEmpty
            return queue.sending
        }
        if more { sendNext() }
    }

    /// One POST; succeeds on a 2xx answer.
    private func send(_ json: String) -> EventLoopFuture<Void> {
        let answered = eventLoop.makePromise(of: HTTPResponseStatus.self)
        let target = self.target
        let tls = self.tls
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(Self.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: target.host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(AnswerHandler(answered: answered))
                }
            }
            .connect(host: target.host, port: target.port)
        connected.whenFailure { answered.fail($0) }
        connected.whenSuccess { channel in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: target.host)
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(json.utf8.count))
            headers.add(name: "Connection", value: "close")
            headers.add(name: "User-Agent", value: "tiercache/\(TierCacheVersion.string)")
            let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.path, headers: headers)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: json))), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            let timeout = channel.eventLoop.scheduleTask(in: Self.answerTimeout) {
                answered.fail(ChannelError.connectTimeout(Self.answerTimeout))
            }
            answered.futureResult.whenComplete { _ in
                timeout.cancel()
                channel.close(promise: nil)
            }
        }
        return answered.futureResult.flatMapThrowing { status in
            guard (200..<300).contains(status.code) else {
                throw WebhookRefused(status: status)
            }
        }
    }

    struct WebhookRefused: Error, CustomStringConvertible {
        var status: HTTPResponseStatus
        var description: String { "answered \(status.code) \(status.reasonPhrase)" }
    }

    /// Completes `answered` with the response's status, or fails it if the connection ends first.
    private final class AnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let answered: EventLoopPromise<HTTPResponseStatus>

        init(answered: EventLoopPromise<HTTPResponseStatus>) { self.answered = answered }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { answered.succeed(head.status) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            answered.fail(ChannelError.eof)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            answered.fail(error)
            context.close(promise: nil)
        }
    }
}

/// `--alert-webhook` is not an http:// or https:// URL.
public struct AlertWebhookURLError: Error, CustomStringConvertible {
    public var url: String
    public init(url: String) { self.url = url }
    public var description: String {
        "--alert-webhook must be http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]; got '\(url)'"
    }
}
