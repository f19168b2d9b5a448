import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import TierCacheBackend

#if canImport(Glibc)
    import Glibc
#endif

/// Opens the TCP connections TierCache makes itself (the loads pool, the change listener, the start-up check) with
/// TCP keepalive, which postgres-nio's own bootstrap does not set: a server that vanished without a reset (a
/// failover, a dropped route) is noticed within `idle + interval × probes` instead of the kernel's two hours, and
/// idle connections keep their entries in firewalls and NAT tables. The channel is then handed to postgres-nio,
/// which does the start-up, TLS and authentication on it as on a channel of its own.
///
/// The QUERY and writes pools are `PostgresClient`s, which open their connections themselves; they send
/// postgres-nio's keepalive query instead (`PostgresBackend.Configuration.keepAliveInterval`).
struct PostgresKeepaliveConnector: Sendable {
    /// Seconds idle before the first probe (nil: no keepalive), between probes, and probes unanswered before the
    /// connection is dead.
    var idle: Duration?
    var interval: Duration = .seconds(10)
    var probes = 3

    /// A connection over a channel of ours when `configuration` names a TCP host; postgres-nio's own otherwise
    /// (a unix socket has no keepalive) or when `idle` is nil.
    func connect(
        on eventLoop: any EventLoop, configuration: PostgresConnection.Configuration, id: Int, logger: Logger
    ) -> EventLoopFuture<PostgresConnection> {
        guard let idle, let host = configuration.host, let port = configuration.port else {
            return PostgresConnection.connect(on: eventLoop, configuration: configuration, id: id, logger: logger)
        }
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.options.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.tcpOption(.init(rawValue: TCP_KEEPIDLE)), value: seconds(idle))
            .channelOption(ChannelOptions.tcpOption(.init(rawValue: TCP_KEEPINTVL)), value: seconds(interval))
            .channelOption(ChannelOptions.tcpOption(.init(rawValue: TCP_KEEPCNT)), value: probes)
            .connect(host: host, port: port)
            .flatMapErrorThrowing { error in
                // In the words postgres-nio uses for a connection it could not open (`backendError`).
                throw BackendError(.unavailable, "PostgreSQL unreachable: connectionError (\(error))")
            }
            .flatMap { channel in
                var established = PostgresConnection.Configuration(
                    establishedChannel: channel, tls: configuration.tls, username: configuration.username,
                    password: configuration.password, database: configuration.database)
                established.options = configuration.options
                // postgres-nio names the server for TLS only on channels it opens; an address is no name (SNI).
                if established.options.tlsServerName == nil, !Self.isAddress(host) {
                    established.options.tlsServerName = host
                }
                return PostgresConnection.connect(on: eventLoop, configuration: established, id: id, logger: logger)
                    .flatMapErrorThrowing { error in
                        channel.close(promise: nil)
                        throw error
                    }
            }
    }

    private func seconds(_ duration: Duration) -> Int {
        Int(clamping: max(1, duration.components.seconds))
    }

    private static func isAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
