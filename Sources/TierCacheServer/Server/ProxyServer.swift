import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TierCacheCache
import TierCacheSupport

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
        let host = proxy.configuration.host
        let port = proxy.configuration.port
        let channel: any Channel
        do {
            channel = try await bind(host: host, port: port)
        } catch {
            logger.error("cannot listen on \(host):\(port): \(error)")
            throw ListenError(host: host, port: port, underlying: "\(error)")
        }
        if let address = channel.localAddress {
            logger.notice("listening", metadata: ["address": "\(address)"])
            onListening(address)
        }
        proxy.start()
        defer { proxy.shutdown() }
        let watcher = PolicyWatcher(
            proxy: proxy, mode: proxy.configuration.policyWatch, pollInterval: proxy.configuration.policyPollInterval,
            logger: logger)
        watcher.start()
        defer { watcher.stop() }
        // Start-up warming (the saved hot keys first, then `warm` statements) runs in the background while we serve.
        proxy.warmer.warm(proxy.policy.types, keys: proxy.savedHotKeys(), proxy: proxy, on: group.next())
        let hotKeySaves = proxy.configuration.hotKeysFile.map { _ in
            let period = TimeAmount.nanoseconds(Int64(clamping: proxy.configuration.hotKeysInterval.wholeNanoseconds))
            return group.next().scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
                proxy.threadPool.submit { state in
                    if case .active = state { proxy.saveHotKeys() }
                }
            }
        }
        defer { hotKeySaves?.cancel() }
        // Expired entries nobody reads again are reclaimed a little at a time: 512 slots per shard every 250 ms
        // keeps each lock hold to microseconds and still passes over a full 256 MB L1 within a minute. The same
        // pass lets the L2 tier finish a sync and replay deferred invalidations.
        let upkeep = group.next().scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(250)) {
            _ in proxy.maintain()
        }
        defer { upkeep.cancel() }
        let healthChecks = proxy.configuration.databaseHealthInterval.map { interval in
            let period = TimeAmount.nanoseconds(Int64(clamping: interval.wholeNanoseconds))
            return group.next().scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
                proxy.database.checkHealth()
            }
        }
        defer { healthChecks?.cancel() }
        // Serve until the service group asks us to stop; then stop accepting, and let every connection finish
        // the requests it has started (replies written) before it closes, within the drain timeout. The event
        // loops' shutdown afterwards closes whatever is left.
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
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
        proxy.saveHotKeys()
    }

    private func bind(host: String, port: Int) async throws -> any Channel {
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
