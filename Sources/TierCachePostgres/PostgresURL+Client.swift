import NIOSSL
import PostgresNIO
import TierCacheBackend

extension PostgresURL {
    /// The pool's configuration for this server: TCP or its unix socket, TLS as `sslmode` says (as libpq's
    /// `require`, TLS without checking the server's certificate; `prefer` falls back to plain TCP), sessions in
    /// UTC, and the `application_name` PostgreSQL shows in `pg_stat_activity`.
    public var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if usesUnixSocket {
            configuration = .init(
                unixSocketPath: unixSocketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS =
                switch sslMode {
                case .disable: .disable
                case .prefer: .prefer(tlsConfiguration)
                case .require: .require(tlsConfiguration)
                }
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// The same server for one connection of its own (`PostgresBackend.connectionProblem()`).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if usesUnixSocket {
            configuration = .init(
                unixSocketPath: unixSocketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS =
                switch sslMode {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
                case .require: .require(try NIOSSLContext(configuration: tlsConfiguration))
                }
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    private var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    /// Sessions in UTC: `timestamptz` values are shown in UTC (`PostgresTimeText`), and a statement's own text of
    /// a time (`now()::text`) then agrees with them.
    private var startupParameters: [(String, String)] {
        [("TimeZone", "UTC")] + (applicationName.map { [("application_name", $0)] } ?? [])
    }
}
