import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The admin HTTP listener (`--admin-listen`): Prometheus' `/metrics`, the health probes, `/stats`, `/alerts`,
/// `/events` and the live page (`AdminRoutes`). On the proxy's event loops; each request is answered from counters
/// in microseconds, so a scraper costs the client port nothing it would notice. Started before the client port
/// and stopped after it has drained, so the probes answer (readiness: draining) throughout a graceful shutdown.
final class AdminServer: Service {
    private let proxy: Proxy
    private let address: ListenAddress
    private let group: any EventLoopGroup
    private let logger: Logger
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    init(proxy: Proxy, address: ListenAddress, group: any EventLoopGroup, logger: Logger) {
        self.proxy = proxy
        self.address = address
        self.group = group
        self.logger = logger
    }

    func run() async throws {
        let channel: any Channel
        do {
            channel = try await bind()
        } catch {
            logger.error("cannot listen on \(address) (--admin-listen): \(error)")
            throw ListenError(host: address.host, port: address.port, underlying: "\(error) (--admin-listen)")
        }
        logger.notice(
            "admin listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "\(address)")"])
        let events = proxy.events
        let ticks = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [proxy] _ in
            events.tick(proxy)
        }
        let listening = proxy.alerts.listen { events.alert($0) }
        defer {
            ticks.cancel()
            proxy.alerts.stopListening(listening)
        }
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        proxy.events.closeAll()
        for connection in connections.withLock({ Array($0.values) }) { connection.close(promise: nil) }
    }

    private func bind() async throws -> any Channel {
        let routes = AdminRoutes(proxy: proxy)
        // HTTPS with the client port's certificate and client rule (`--admin-tls yes`).
        let tls = proxy.tls.flatMap { $0.settings.admin ? $0 : nil }
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A viewer of /events that stops reading holds at most about this much (the kernel's buffer, fixed
            // rather than grown by autotuning, and NIO's) before its ticks are skipped.
            .childChannelOption(.socketOption(.so_sndbuf), value: 8 * 1024)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 8 * 1024, high: 16 * 1024))
            .childChannelInitializer { [self] channel in
                let id = ObjectIdentifier(channel)
                connections.withLock { $0[id] = channel }
                channel.closeFuture.whenComplete { [self] _ in _ = connections.withLock { $0.removeValue(forKey: id) } }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls.makeHandler()) }
                    try channel.pipeline.syncOperations.addHandler(
                        IdleStateHandler(readTimeout: AdminHTTPHandler.idleTimeout))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(routes: routes))
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
    }
}
