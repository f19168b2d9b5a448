import TierCacheBackend

extension PostgresBackend {
    /// Pool sizes and time limits.
    public struct Configuration: Sendable {
        /// Connections kept open to serve the cache's loads even when idle (`--db-pool-min`).
        public var minimumConnections = 1
        /// Connections at most, all pools together (`--db-pool-max`): see `poolSizes`.
        public var maximumConnections = 8
        /// How long a call waits for a free connection before failing as busy.
        public var acquireTimeout: Duration = .seconds(2)
        /// `statement_timeout` of clients' QUERY statements (`--db-timeout`); nil for none.
        public var clientReadTimeout: Duration? = .seconds(5)
        /// `statement_timeout` of policies' loads, writes and transactions (`--db-statement-timeout`).
        public var statementTimeout: Duration? = .seconds(30)
        /// The largest result of one read (`ResultSize`).
        public var maxResultBytes = 65 << 20
        /// A connection this old is closed when it comes back and replaced (`--db-max-connection-age`).
        public var maxConnectionAge: Duration? = .seconds(3600)
        /// An idle connection above the minimum is closed after this long.
        public var idleTimeout: Duration = .seconds(60)
        /// How long a connection is idle before it is checked: by TCP keepalive probes on the connections TierCache
        /// opens itself (loads, the change listener), by a query (`SELECT 1`) on the `PostgresClient` pools. Keeps
        /// NATs and load balancers from dropping it and finds a dead one before a request does; nil never.
        public var keepAliveInterval: Duration? = .seconds(30)

        var keepaliveConnector: PostgresKeepaliveConnector { PostgresKeepaliveConnector(idle: keepAliveInterval) }
        /// How long opening a connection may take.
        public var connectTimeout: Duration = .seconds(5)

        public init() {}

        /// How `maximumConnections` is shared: a quarter (at least one) each for writes and for clients' QUERY
        /// statements, so neither can take the connections the cache's loads need; the rest for loads.
        public var poolSizes: (loads: Int, clientReads: Int, writes: Int) {
            let writes = max(1, maximumConnections / 4)
            let clientReads = max(1, maximumConnections / 4)
            return (max(1, maximumConnections - writes - clientReads), clientReads, writes)
        }

        func validate() throws(BackendError) {
            guard maximumConnections >= 3 else {
                throw BackendError(.failed, "the pool needs at least 3 connections (loads, QUERY, writes)")
            }
            guard (0...maximumConnections).contains(minimumConnections) else {
                throw BackendError(.failed, "the pool minimum must be between 0 and the maximum")
            }
        }
    }
}
