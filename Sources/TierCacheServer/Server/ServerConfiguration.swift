import TierCacheBackend
import TierCacheCache
import TierCacheProtocol
import TierCacheResilience

/// How `tiercache serve` notices edits of its policy files (`PolicyWatcher`). SIGHUP and `POLICY RELOAD` reload
/// in every mode.
public enum PolicyWatchMode: String, Sendable, CaseIterable {
    /// inotify, and a poll behind it.
    case auto
    /// A poll only.
    case poll
    /// Neither.
    case off
}

/// Everything `tiercache serve` is told, validated once at start-up.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Whether the plain-text client port (`host`:`port`) listens; off (`--listen off`) when only TLS should.
    public var plainListener = true
    /// TLS on a client port of its own and/or the admin listener (`--tls-*`); nil: none.
    public var tls: TLSSettings?
    /// The database: an SQLite file or a PostgreSQL server (`--database`).
    public var database: DatabaseURL
    /// A policy file or directory.
    public var policyPath: String
    public var policyWatch: PolicyWatchMode
    /// How often the policy files are read to notice a change inotify missed (or without inotify).
    public var policyPollInterval: Duration
    /// Read counts of keys (`STATS HOT`, adaptive TTLs) are halved this often, so they follow what is hot now.
    public var hotKeyWindow: Duration
    /// Where the hot keys are saved (every `hotKeysInterval` and at shutdown) and read at start-up to warm L1; nil
    /// keeps none.
    public var hotKeysFile: String?
    public var hotKeysInterval: Duration
    /// Bytes the L1 may hold.
    public var l1MaxMemory: Int
    /// Independently locked L1 shards (a power of two).
    public var l1Shards: Int
    /// Entries the L1 may hold besides its bytes (`--l1-max-entries`); nil: only bytes bound it.
    public var l1MaxEntries: Int?
    /// Which entry leaves a full L1 shard, and whether a new one may displace it (`--l1-eviction`).
    public var l1Eviction: L1Eviction
    /// When set, clients must AUTH (or HELLO … AUTH) before anything else.
    public var requirePassword: String?
    /// The users file (`--users`): users with their passwords' hashes and permissions; nil: only `default`.
    public var usersFile: String?
    /// Statements at least this slow go to the slow log (`SLOWLOG`); nil: none. Zero logs every statement.
    public var slowLogThreshold: Duration? = .milliseconds(100)
    /// The slow log's length; the oldest entry makes room for a new one.
    public var slowLogMaxLength = 128
    /// Where alert notifications are posted (`http://` or `https://`); nil: nowhere.
    public var alertWebhook: String?
    /// Whether clients may run `SQL.EXEC` (any statement, writes included); off unless `--sql-exec on`.
    public var sqlExec = false
    /// Redis' protected mode: without a password, only loopback clients are served (`ProtectedMode`).
    public var protectedMode = true
    /// The admin HTTP listener (`/metrics`, probes, `/stats`); nil: none. The CLI's default is 127.0.0.1:9680.
    public var adminListen: ListenAddress?
    public var protocolLimits: RESPLimits
    /// Event loop threads accepting and serving connections.
    public var eventLoopThreads: Int
    /// Threads running blocking backend calls.
    public var backendThreads: Int
    /// Read-only database connections: reads that run at once (SQLite).
    public var databaseReaders: Int
    /// PostgreSQL connections kept open when idle, for the cache's loads (`--db-pool-min`).
    public var databasePoolMinimum: Int
    /// PostgreSQL connections at most, all pools together (`--db-pool-max`).
    public var databasePoolMaximum: Int
    /// A PostgreSQL connection this old is replaced when it comes back to its pool; nil never.
    public var databaseMaxConnectionAge: Duration?
    /// An idle PostgreSQL connection above the minimum is closed after this long.
    public var databaseIdleTimeout: Duration
    /// How long a database call waits for a connection before failing as busy.
    public var databaseAcquireTimeout: Duration
    /// How often idle database connections are checked (`Backend.checkHealth()`); nil never.
    public var databaseHealthInterval: Duration?
    /// The shared Redis tier; nil runs L1 only.
    public var l2: L2Configuration?
    /// Longest wait for one database call; past it the request gets an error (or a stale entry) and the call's
    /// outcome counts as a failure for the breaker.
    public var databaseTimeout: Duration
    /// How long any statement but a client's read (a policy's load, any write) may run before the database
    /// interrupts it (rolls a write back); nil: no limit. A client's read is interrupted at `databaseTimeout`.
    public var databaseStatementTimeout: Duration?
    /// The largest result a database read may return (`ResultSize`); a larger one is refused with an error. Keep it
    /// above `protocolLimits.maxBulkLength`, so every value a client can write can be read back.
    public var maxResultSize: Int
    /// A load of a key whose type keeps stale entries (`max_stale`) that runs longer than this is answered for with
    /// the stale entry, when there is one, while the load goes on and refreshes the cache; nil waits for the load.
    public var softTimeout: Duration?
    /// The circuit breaker around database calls.
    public var databaseBreaker: CircuitBreakerConfiguration
    /// Connections beyond this many are told so and closed.
    public var maxClients: Int
    /// A connection with nothing to do for this long is closed; nil never closes one.
    public var idleTimeout: Duration?
    /// A command whose first bytes arrived this long ago and that is still incomplete gets an error and the
    /// connection is closed (slowloris); nil waits forever.
    public var requestTimeout: Duration?
    /// On SIGTERM/SIGINT, how long in-flight requests get to finish before their connections are closed anyway.
    public var drainTimeout: Duration
    /// A connection with more than this many bytes of replies its client has not read, and that read none of
    /// them for a whole check period (a second), is closed; nil never. Below it, a client that does not read
    /// only stops the connection from reading further commands.
    public var maxOutputBuffer: Int?
    /// The most bytes all connections together may hold of commands received and not yet executed; past it, the
    /// connections holding the most are closed (`InputBudget`). Nil: no limit.
    public var maxInputBuffers: Int?

    public init(
        host: String = "127.0.0.1",
        port: Int = 6380,
        database: DatabaseURL = .sqlite(path: "tiercache.db"),
        policyPath: String = "ttl-policies",
        policyWatch: PolicyWatchMode = .auto,
        policyPollInterval: Duration = .seconds(1),
        hotKeyWindow: Duration = .seconds(60),
        hotKeysFile: String? = nil,
        hotKeysInterval: Duration = .seconds(60),
        l1MaxMemory: Int = 256 * 1024 * 1024,
        l1Shards: Int = 16,
        l1MaxEntries: Int? = nil,
        l1Eviction: L1Eviction = .windowTinyLFU,
        requirePassword: String? = nil,
        protocolLimits: RESPLimits = .default,
        eventLoopThreads: Int = 1,
        backendThreads: Int = 8,
        databaseReaders: Int = 4,
        databasePoolMinimum: Int = 1,
        databasePoolMaximum: Int = 8,
        databaseMaxConnectionAge: Duration? = .seconds(3600),
        databaseIdleTimeout: Duration = .seconds(60),
        databaseAcquireTimeout: Duration = .seconds(2),
        databaseHealthInterval: Duration? = .seconds(10),
        l2: L2Configuration? = nil,
        databaseTimeout: Duration = .seconds(5),
        databaseStatementTimeout: Duration? = .seconds(30),
        maxResultSize: Int = 65 * 1024 * 1024,
        softTimeout: Duration? = nil,
        databaseBreaker: CircuitBreakerConfiguration = .default,
        maxClients: Int = 10_000,
        idleTimeout: Duration? = nil,
        requestTimeout: Duration? = .seconds(10),
        drainTimeout: Duration = .seconds(10),
        maxOutputBuffer: Int? = 64 * 1024 * 1024,
        maxInputBuffers: Int? = 256 * 1024 * 1024
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.policyPath = policyPath
        self.policyWatch = policyWatch
        self.policyPollInterval = policyPollInterval
        self.hotKeyWindow = hotKeyWindow
        self.hotKeysFile = hotKeysFile
        self.hotKeysInterval = hotKeysInterval
        self.l1MaxMemory = l1MaxMemory
        self.l1Shards = l1Shards
        self.l1MaxEntries = l1MaxEntries
        self.l1Eviction = l1Eviction
        self.requirePassword = requirePassword
        self.protocolLimits = protocolLimits
        self.eventLoopThreads = eventLoopThreads
        self.backendThreads = backendThreads
        self.databaseReaders = databaseReaders
        self.databasePoolMinimum = databasePoolMinimum
        self.databasePoolMaximum = databasePoolMaximum
        self.databaseMaxConnectionAge = databaseMaxConnectionAge
        self.databaseIdleTimeout = databaseIdleTimeout
        self.databaseAcquireTimeout = databaseAcquireTimeout
        self.databaseHealthInterval = databaseHealthInterval
        self.l2 = l2
        self.databaseTimeout = databaseTimeout
        self.databaseStatementTimeout = databaseStatementTimeout
        self.maxResultSize = maxResultSize
        self.softTimeout = softTimeout
        self.databaseBreaker = databaseBreaker
        self.maxClients = maxClients
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.drainTimeout = drainTimeout
        self.maxOutputBuffer = maxOutputBuffer
        self.maxInputBuffers = maxInputBuffers
    }
}

/// The version TierCache reports in HELLO and STATS.
public enum TierCacheVersion {
    public static let string = "0.1.0"
}
