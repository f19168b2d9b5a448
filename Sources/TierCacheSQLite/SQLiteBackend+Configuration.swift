import TierCacheBackend

extension SQLiteBackend {
    /// How a backend opens and uses its connections.
    public struct Configuration: Sendable {
        /// How long a call waits for a lock held by another connection or process before failing with `.busy`.
        /// 0...Int32.max.
        public var busyTimeoutMilliseconds: Int
        /// Prepared statements kept per connection, least recently used dropped first. At least 1.
        public var statementCacheSize: Int
        /// Whether a missing database file is created (otherwise opening it fails with `.unavailable`).
        public var createIfMissing: Bool
        /// Read-only connections, so that this many reads run at once. 1...64.
        public var readers: Int
        /// How long a call waits for a connection (a reader, or the writer) before failing with `.busy`.
        public var acquireTimeout: Duration

        public init(
            busyTimeoutMilliseconds: Int = 5000,
            statementCacheSize: Int = 64,
            createIfMissing: Bool = true,
            readers: Int = 4,
            acquireTimeout: Duration = .seconds(2)
        ) {
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.statementCacheSize = statementCacheSize
            self.createIfMissing = createIfMissing
            self.readers = readers
            self.acquireTimeout = acquireTimeout
        }

        /// Throws `.failed`, naming the allowed values, for a setting out of range.
        func validate() throws(BackendError) {
            guard (0...Int(Int32.max)).contains(busyTimeoutMilliseconds) else {
                throw BackendError(
                    .failed,
                    "busyTimeoutMilliseconds must be 0...\(Int32.max), got \(busyTimeoutMilliseconds)"
                )
            }
            guard statementCacheSize >= 1 else {
                throw BackendError(.failed, "statementCacheSize must be 1 or more, got \(statementCacheSize)")
            }
            guard (1...64).contains(readers) else {
                throw BackendError(.failed, "readers must be 1...64, got \(readers)")
            }
            guard acquireTimeout > .zero else {
                throw BackendError(.failed, "acquireTimeout must be more than 0, got \(acquireTimeout)")
            }
        }
    }
}
