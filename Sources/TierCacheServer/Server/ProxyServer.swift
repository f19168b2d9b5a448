import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The listening socket as a lifecycle service: binds, serves until graceful shutdown, then stops accepting.
public final class ProxyServer: Service {
    private let proxy: Proxy
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    public init(
        proxy: Proxy,
        group: any EventLoopGroup,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.proxy = proxy
        self.group = group
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let proxy = self.proxy
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(proxy: proxy))
                }
            }
            .bind(host: proxy.configuration.host, port: proxy.configuration.port)
            .get()
        if let address = channel.localAddress {
            logger.notice("listening", metadata: ["address": "\(address)"])
            onListening(address)
        }
        // Serve until the service group asks us to stop; then stop accepting. Draining in-flight requests
        // is the event loop group's shutdown, which closes the connections.
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        logger.notice("stopped accepting connections")
    }
}
