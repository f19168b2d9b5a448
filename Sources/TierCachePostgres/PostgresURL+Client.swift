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
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.certificateVerification = .none
            let tls: PostgresClient.Configuration.TLS =
                switch sslMode {
                case .disable: .disable
                case .prefer: .prefer(tlsConfiguration)
                case .require: .require(tlsConfiguration)
                }
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        // Sessions in UTC: `timestamptz` values are shown in UTC (`PostgresTimeText`), and a statement's own
        // text of a time (`now()::text`) then agrees with them.
        configuration.options.additionalStartupParameters.append(("TimeZone", "UTC"))
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        return configuration
    }
}
