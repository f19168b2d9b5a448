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
        /// How long a client's read statement may run before it is interrupted (`.interrupted`); nil: no limit.
        public var clientReadTimeout: Duration?
        /// How long any other statement (a policy's read, any write) may run before it is interrupted, a write
        /// rolled back; nil: no limit. Waiting for another process' lock is bounded by the busy timeout instead.
        public var statementTimeout: Duration?
        /// The largest result a read may return (`ResultSize`), and the longest string or blob a statement may
        /// make. At least 1024.
        public var maxResultBytes: Int

        public init(
            busyTimeoutMilliseconds: Int = 5000,
            statementCacheSize: Int = 64,
            createIfMissing: Bool = true,
            readers: Int = 4,
            acquireTimeout: Duration = .seconds(2),
            clientReadTimeout: Duration? = nil,
            statementTimeout: Duration? = nil,
            maxResultBytes: Int = 64 * 1024 * 1024
        ) {
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.statementCacheSize = statementCacheSize
            self.createIfMissing = createIfMissing
            self.readers = readers
            self.acquireTimeout = acquireTimeout
            self.clientReadTimeout = clientReadTimeout
            self.statementTimeout = statementTimeout
            self.maxResultBytes = maxResultBytes
        }

        /// Readers clients' own statements may hold at once: all but one, so a policy's load always finds a reader
        /// that no client's heavy QUERY holds.
        var clientReaders: Int { max(1, readers - 1) }

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
            for (name, timeout) in [("clientReadTimeout", clientReadTimeout), ("statementTimeout", statementTimeout)] {
                if let timeout, timeout <= .zero {
                    throw BackendError(.failed, "\(name) must be more than 0 (or nil for none), got \(timeout)")
                }
            }
            guard maxResultBytes >= 1024 else {
                throw BackendError(.failed, "maxResultBytes must be 1024 or more, got \(maxResultBytes)")
            }
        }
    }
}
