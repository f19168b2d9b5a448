import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TierCacheCache
import TierCacheSupport

/// The listening sockets as a lifecycle service: the plain client port and the TLS one (`--tls-listen`), each
/// optional; binds, serves until graceful shutdown, then stops accepting and drains the connections. The last of
/// `Proxy.services`: it starts after the parts it needs and stops first.
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
        var listeners: [(address: ListenAddress, tls: TLSContext?)] = []
        if proxy.configuration.plainListener {
            listeners.append((ListenAddress(host: proxy.configuration.host, port: proxy.configuration.port), nil))
        }
        if let tls = proxy.tls, let address = tls.settings.listen { listeners.append((address, tls)) }
        var channels: [any Channel] = []
        for (address, tls) in listeners {
            do {
                channels.append(try await bind(host: address.host, port: address.port, tls: tls))
            } catch {
                logger.error("cannot listen on \(address): \(error)")
                for channel in channels { channel.close(promise: nil) }
                throw ListenError(host: address.host, port: address.port, underlying: "\(error)")
            }
        }
        for (channel, listener) in zip(channels, listeners) {
            guard let address = channel.localAddress else { continue }
            logger.notice("listening", metadata: ["address": "\(address)", "tls": "\(listener.tls != nil)"])
        }
        if let address = channels.first?.localAddress { onListening(address) }
        let listening = channels
        proxy.phase.advance(to: .serving)
        // Serve until the service group asks us to stop; then stop accepting, and let every connection finish
        // the requests it has started (replies written) before it closes, within the drain timeout; then close
        // whatever is left, before the statements still running are interrupted. Cancelled (another service
        // failed, such as the admin listener's bind): the same.
        await withTaskCancellationOrGracefulShutdownHandler {
            for channel in listening { try? await channel.closeFuture.get() }
        } onCancelOrGracefulShutdown: {
            proxy.phase.advance(to: .draining)
            for channel in listening { channel.close(promise: nil) }
        }
        let open = proxy.connections.count
        logger.notice("stopped accepting connections; draining", metadata: ["connections": "\(open)"])
        let left = await proxy.connections.drain(timeout: proxy.configuration.drainTimeout)
        if left > 0 {
            logger.warning(
                "drain timeout: closing connections with requests still in flight",
                metadata: ["connections": "\(left)", "timeout": "\(proxy.configuration.drainTimeout)"])
        } else {
            logger.notice("drained")
        }
    }

    /// A listening channel whose connections speak TLS first when `tls` is given (each from the context in force
    /// when it connects: a reload changes no open connection).
    private func bind(host: String, port: Int, tls: TLSContext?) async throws -> any Channel {
        let proxy = self.proxy
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client that shuts down its sending side after its commands (`nc -N`) still gets their replies
            // (`ConnectionHandler.finishIfInputDone`), as from Redis.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // Unwritable (the client is not reading fast enough) above 1 MB of unsent replies: the connection then
            // stops decoding and reading (`ConnectionHandler`). NIO's 64 kB default would toggle for every large
            // value.
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls.makeHandler()) }
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(proxy: proxy))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

/// The listening socket could not be opened (port taken, address not local, permission).
public struct ListenError: Error, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var underlying: String
    public var description: String { "cannot listen on \(host):\(port): \(underlying)" }
}
