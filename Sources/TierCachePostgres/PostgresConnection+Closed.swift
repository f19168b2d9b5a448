import Logging
import NIOCore
import PostgresNIO
import TierCacheBackend

/// Statements refused at once on a connection already closed.
///
/// postgres-nio (1.33) writes a query to its channel without a write promise; on a channel already closed (the
/// server restarted, terminated the backend) the write never reaches its handler and the query's own promise is
/// never completed, so whoever awaits it waits forever. Found by `bench/soak.py`: after a PostgreSQL restart,
/// `MULTI … EXEC` (a `ROLLBACK` after the connection was lost, a `BEGIN` on one that closed after it was lent)
/// and pooled loads hung, and the loads pool ran out of connections. Checked on the connection's event loop in
/// the same step as the write where the API allows it (`query(_:logger:onRow:)`); for the async row sequence,
/// just before.
extension PostgresConnection {
    /// The error a statement on a closed connection fails with: a lost connection, as `isConnectionLost` reads it.
    static var closedError: BackendError {
        BackendError(.unavailable, "PostgreSQL unreachable: the connection is closed (the server closed it)")
    }

    /// `query(_:logger:onRow:)`, failed at once when the connection is closed: checked and written on its event loop,
    /// so nothing can close it in between.
    func checkedQuery(
        _ query: PostgresQuery, logger: Logger, _ onRow: @escaping @Sendable (PostgresRow) throws -> Void
    ) -> EventLoopFuture<PostgresQueryMetadata> {
        let connection = self
        return eventLoop.flatSubmit {
            guard !connection.isClosed else { return connection.eventLoop.makeFailedFuture(Self.closedError) }
            return connection.query(query, logger: logger, onRow)
        }
    }

    /// The async row sequence of `query`, refused when the connection is already closed.
    func checkedQuery(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        guard !isClosed else { throw Self.closedError }
        return try await self.query(query, logger: logger)
    }
}
