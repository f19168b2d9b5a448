import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheRedis
import TierCacheResilience
import TierCacheSQLite
import TierCacheServer
import TierCacheSupport
import UnixSignals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the proxy (the default command).",
        discussion: """
            Every option can also be set with its environment variable; a flag wins over the variable.
            With no options it listens on 127.0.0.1:6380, reads ttl-policies/, and uses ./tiercache.db,
            which it creates with demo rows for the shipped data types when the file is absent.
            """
    )

    @Option(
        help: """
            Address to listen on, HOST:PORT (TIERCACHE_LISTEN). Loopback unless you say otherwise; off: only the TLS \
            port (--tls-listen).
            """)
    var listen: String?

    @Option(name: .customLong("tls-listen"), help: "TLS client port, HOST:PORT, beside --listen (TIERCACHE_TLS_LISTEN).")
    var tlsListen: String?

    @Option(
        name: .customLong("tls-cert-file"),
        help: "PEM certificate (then intermediates) for TLS; reloaded on change and SIGHUP (TIERCACHE_TLS_CERT_FILE).")
    var tlsCertFile: String?

    @Option(name: .customLong("tls-key-file"), help: "PEM private key of --tls-cert-file (TIERCACHE_TLS_KEY_FILE).")
    var tlsKeyFile: String?

    @Option(
        name: .customLong("tls-ca-cert-file"),
        help: "PEM CAs that clients' certificates must chain to (TIERCACHE_TLS_CA_CERT_FILE).")
    var tlsCACertFile: String?

    @Option(
        name: .customLong("tls-auth-clients"),
        help: "no (default), optional or yes: whether TLS clients show a certificate (TIERCACHE_TLS_AUTH_CLIENTS).")
    var tlsAuthClients: String?

    @Option(
        name: .customLong("admin-tls"),
        help: "yes: the admin listener speaks HTTPS with the --tls-* certificate; no (default) (TIERCACHE_ADMIN_TLS).")
    var adminTLS: String?

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(help: "Policy directory or file (TIERCACHE_POLICIES).")
    var policies: String?

    @Option(
        help: """
            Redis for the shared L2 tier and cross-sidecar invalidation: redis://[[user]:password@]host[:port][/db] \
            or unix:///path[?db=N&password=P] (TIERCACHE_REDIS). Without it, L1 only.
            """)
    var redis: String?

    @Option(name: .customLong("redis-prefix"), help: "Prefix of every Redis key and the channel (TIERCACHE_REDIS_PREFIX); default tiercache:")
    var redisPrefix: String?

    @Option(name: .customLong("redis-connect-timeout"), help: "e.g. 1s, 500ms (TIERCACHE_REDIS_CONNECT_TIMEOUT); default 1s.")
    var redisConnectTimeout: String?

    @Option(name: .customLong("redis-timeout"), help: "Per Redis round trip, e.g. 500ms (TIERCACHE_REDIS_TIMEOUT); default 500ms.")
    var redisTimeout: String?

    @Option(
        name: .customLong("degraded-l1-ttl"),
        help: "Longest L1 life while the invalidation channel is down, e.g. 1s (TIERCACHE_DEGRADED_L1_TTL); default 1s.")
    var degradedL1TTL: String?

    @Option(name: .customLong("l1-max-memory"), help: "L1 memory bound, e.g. 256mb, 1g (TIERCACHE_L1_MAX_MEMORY).")
    var l1MaxMemory: String?

    @Option(
        name: .customLong("l1-shards"), help: "Independently locked L1 shards, a power of two (TIERCACHE_L1_SHARDS).")
    var l1Shards: String?

    @Option(
        name: .customLong("l1-max-entries"),
        help: "L1 entry bound besides the memory bound; the tighter wins (TIERCACHE_L1_MAX_ENTRIES); default none.")
    var l1MaxEntries: String?

    @Option(
        name: .customLong("l1-eviction"),
        help: "L1 eviction policy: w-tinylfu (default) or lru (TIERCACHE_L1_EVICTION).")
    var l1Eviction: String?

    @Option(help: "Password clients must AUTH with: the default user's (TIERCACHE_REQUIREPASS).")
    var requirepass: String?

    @Option(
        help: """
            Users file (YAML): users with their passwords' SHA-256 and the commands and types each may use; \
            reloaded when it changes and on SIGHUP (TIERCACHE_USERS).
            """)
    var users: String?

    @Option(
        name: .customLong("slow-log-threshold"),
        help: "Statements this slow go to SLOWLOG, e.g. 100ms; 0 logs all, off none (TIERCACHE_SLOW_LOG_THRESHOLD).")
    var slowLogThreshold: String?

    @Option(
        name: .customLong("slow-log-max-len"), help: "Entries SLOWLOG keeps (TIERCACHE_SLOW_LOG_MAX_LEN); default 128.")
    var slowLogMaxLen: String?

    @Option(
        name: .customLong("sql-exec"),
        help: "on: clients may run SQL.EXEC (any statement, writes included); off (default) (TIERCACHE_SQL_EXEC).")
    var sqlExec: String?

    @Option(
        name: .customLong("protected-mode"),
        help: """
            yes (default): with no password (--requirepass or --users), only clients on this machine are served, \
            others get -DENIED; \
            no: anyone who reaches the port (TIERCACHE_PROTECTED_MODE).
            """)
    var protectedMode: String?

    @Option(
        name: .customLong("alert-webhook"),
        help: "POST each alert firing or resolving as JSON here, http:// or https:// (TIERCACHE_ALERT_WEBHOOK).")
    var alertWebhook: String?

    @Option(
        name: .customLong("admin-listen"),
        help: """
            Admin HTTP listener (/metrics, /health/*, /stats), HOST:PORT or off (TIERCACHE_ADMIN_LISTEN); \
            default 127.0.0.1:9680. With --requirepass, all but the probes need the password.
            """)
    var adminListen: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (TIERCACHE_LOG_LEVEL).")
    var logLevel: String?

    @Option(
        name: .customLong("max-inline-length"),
        help: "Longest inline command line in bytes (TIERCACHE_MAX_INLINE_LENGTH).")
    var maxInlineLength: String?

    @Option(name: .customLong("max-bulk-length"), help: "Largest argument, e.g. 64mb (TIERCACHE_MAX_BULK_LENGTH).")
    var maxBulkLength: String?

    @Option(name: .customLong("max-arguments"), help: "Most arguments in one command (TIERCACHE_MAX_ARGUMENTS).")
    var maxArguments: String?

    @Option(help: "Event loop threads (TIERCACHE_THREADS). One serves as well as two on 2 cores.")
    var threads: String?

    @Option(name: .customLong("backend-threads"), help: "Threads for database calls (TIERCACHE_BACKEND_THREADS).")
    var backendThreads: String?

    @Option(
        name: .customLong("max-clients"),
        help: "Connections beyond this many are refused (TIERCACHE_MAX_CLIENTS); default 10000.")
    var maxClients: String?

    @Option(
        name: .customLong("max-output-buffer"),
        help: """
            Close a connection with more than this many bytes of replies unread, when its client read none of \
            them for a second, e.g. 256mb; 0 never (TIERCACHE_MAX_OUTPUT_BUFFER); default 64mb.
            """)
    var maxOutputBuffer: String?

    @Option(
        name: .customLong("max-input-buffers"),
        help: """
            Most bytes all clients together may have sent and not yet had executed, e.g. 1g; past it the \
            connections holding the most are closed; 0 never (TIERCACHE_MAX_INPUT_BUFFERS); default 256mb.
            """)
    var maxInputBuffers: String?

    @Option(
        name: .customLong("idle-timeout"),
        help: "Close a connection idle this long, e.g. 5m; 0 never does (TIERCACHE_IDLE_TIMEOUT); default 0.")
    var idleTimeout: String?

    @Option(
        name: .customLong("request-timeout"),
        help: """
            A command still incomplete this long after its first bytes gets an error and the connection is closed \
            (slow senders), e.g. 10s; 0 waits forever (TIERCACHE_REQUEST_TIMEOUT); default 10s.
            """)
    var requestTimeout: String?

    @Option(
        name: .customLong("policy-watch"),
        help: """
            How edits of the policy files are noticed: auto (inotify, and a poll behind it), poll, or off; SIGHUP \
            and POLICY RELOAD reload in every mode (TIERCACHE_POLICY_WATCH); default auto.
            """)
    var policyWatch: String?

    @Option(
        name: .customLong("policy-poll-interval"),
        help: "How often the policy files are read for changes, e.g. 5s (TIERCACHE_POLICY_POLL_INTERVAL); default 1s.")
    var policyPollInterval: String?

    @Option(
        name: .customLong("hot-key-window"),
        help: """
            Read counts of keys (STATS HOT, adaptive TTLs) are halved this often, e.g. 5m \
            (TIERCACHE_HOT_KEY_WINDOW); default 60s.
            """)
    var hotKeyWindow: String?

    @Option(
        name: .customLong("hot-keys-file"),
        help: """
            Where the hot keys are saved (periodically and at shutdown) and read at start-up to warm L1; off keeps \
            none (TIERCACHE_HOT_KEYS_FILE); default: the database file's path + .hotkeys.
            """)
    var hotKeysFile: String?

    @Option(
        name: .customLong("hot-keys-interval"),
        help: "How often the hot keys are saved, e.g. 5m (TIERCACHE_HOT_KEYS_INTERVAL); default 60s.")
    var hotKeysInterval: String?

    @Option(
        name: .customLong("db-readers"),
        help: "Read-only database connections, so many reads run at once (TIERCACHE_DB_READERS); default 4.")
    var dbReaders: String?

    @Option(
        name: .customLong("db-pool-min"),
        help: "PostgreSQL connections kept open for the cache's loads when idle (TIERCACHE_DB_POOL_MIN); default 1.")
    var dbPoolMin: String?

    @Option(
        name: .customLong("db-pool-max"),
        help: """
            PostgreSQL connections at most, 3 or more (TIERCACHE_DB_POOL_MAX); default 8: a quarter each for writes             and for clients' QUERY, the rest for the cache's loads.
            """)
    var dbPoolMax: String?

    @Option(
        name: .customLong("db-max-connection-age"),
        help: """
            A PostgreSQL connection this old is replaced after its call, e.g. 30m; 0 never             (TIERCACHE_DB_MAX_CONNECTION_AGE); default 1h.
            """)
    var dbMaxConnectionAge: String?

    @Option(
        name: .customLong("db-idle-timeout"),
        help: """
            An idle PostgreSQL connection above --db-pool-min is closed after this long, e.g. 5m             (TIERCACHE_DB_IDLE_TIMEOUT); default 60s.
            """)
    var dbIdleTimeout: String?

    @Option(
        name: .customLong("db-acquire-timeout"),
        help: """
            How long a database call waits for a free connection before failing as busy, e.g. 500ms \
            (TIERCACHE_DB_ACQUIRE_TIMEOUT); default 2s.
            """)
    var dbAcquireTimeout: String?

    @Option(
        name: .customLong("db-health-interval"),
        help: """
            How often idle database connections are checked (file moved or replaced, schema readable), e.g. 30s; \
            0 never (TIERCACHE_DB_HEALTH_INTERVAL); default 10s.
            """)
    var dbHealthInterval: String?

    @Option(
        name: .customLong("db-timeout"),
        help: """
            Longest wait for one database read, e.g. 2s; a read statement still running then is interrupted \
            (TIERCACHE_DB_TIMEOUT); default 5s.
            """)
    var dbTimeout: String?

    @Option(
        name: .customLong("db-statement-timeout"),
        help: """
            A policy's load or a write still running this long is interrupted (a write rolled back), e.g. 1m; \
            0 never (TIERCACHE_DB_STATEMENT_TIMEOUT); default 30s. Clients' QUERY statements stop at --db-timeout.
            """)
    var dbStatementTimeout: String?

    @Option(
        name: .customLong("demo-benchmark-keys"),
        help: """
            Rows of the demo's `key` type (redis-benchmark's key:000000000000 …) created with an absent database \
            (TIERCACHE_DEMO_BENCHMARK_KEYS); default 1000000.
            """)
    var demoBenchmarkKeys: String?

    @Option(
        name: .customLong("max-result-size"),
        help: """
            Largest result of one database read, e.g. 16mb (TIERCACHE_MAX_RESULT_SIZE); default \
            --max-bulk-length + 1mb (65mb).
            """)
    var maxResultSize: String?

    @Option(
        name: .customLong("soft-timeout"),
        help: """
            For types with max_stale: a load still running after this long is answered for with the stale entry, \
            if there is one, and goes on to refresh the cache, e.g. 100ms; 0 waits (TIERCACHE_SOFT_TIMEOUT); \
            default 0.
            """)
    var softTimeout: String?

    @Option(
        name: .customLong("drain-timeout"),
        help: """
            On SIGTERM/SIGINT, how long requests in flight get to finish before their connections are closed, \
            e.g. 10s (TIERCACHE_DRAIN_TIMEOUT); default 10s.
            """)
    var drainTimeout: String?

    @Option(
        name: .customLong("redis-breaker"),
        help: """
            The Redis circuit breaker, settings as for --db-breaker (TIERCACHE_REDIS_BREAKER); defaults \
            failure_rate=0.5, slow_rate=0.8, slow_call=250ms, window=100, min_calls=20, open=5s, probes=3.
            """)
    var redisBreaker: String?

    @Option(
        name: .customLong("db-breaker"),
        help: """
            The database circuit breaker, as key=value settings separated by commas (TIERCACHE_DB_BREAKER): \
            failure_rate (0.5), slow_rate (0.8), slow_call (1s), window (20 calls), min_calls (10), open (5s), \
            probes (3). For example failure_rate=0.3,open=10s.
            """)
    var dbBreaker: String?

    func run() async throws {
        let levelText = Environment.resolve(logLevel, "TIERCACHE_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ValidationError(
                "--log-level must be one of trace, debug, info, notice, warning, error; got '\(levelText)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tiercache")
        let configuration = try resolveConfiguration()

        // Policies first: an invalid policy is refused before anything else happens.
        let policySet: PolicySet
        do {
            policySet = try PolicyLoader.load(path: configuration.policyPath)
        } catch {
            printErrors(error.errors.map(\.description))
            throw ExitCode(1)
        }
        // Users next, for the same reason.
        let access: (users: [String], isOpen: Bool)
        do {
            access = try UserDirectory.check(file: configuration.usersFile, requirePassword: configuration.requirePassword)
        } catch {
            printErrors(error.errors.map(\.description))
            throw ExitCode(1)
        }
        logger.info(
            "policies loaded",
            metadata: [
                "path": "\(configuration.policyPath)", "types": "\(policySet.types.count)",
                "files": "\(policySet.files.count)",
                "default": "\(policySet.defaultPolicy.cache ? "cache" : "no cache")",
            ]
        )

        // Before the event loops' threads first allocate.
        if let arenas = MallocArenas.limit(eventLoops: configuration.eventLoopThreads) {
            logger.info("malloc arenas capped", metadata: ["arenas": "\(arenas)"])
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        let database: OpenedDatabase
        do {
            database = try await OpenedDatabase.open(
                configuration, benchmarkKeys: try demoBenchmarkKeyCount(), group: group, logger: logger)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let adapter = database.adapter
        let validation = try await PolicyValidation.validate(policySet, against: adapter, on: group.next()).get()
        for warning in validation.warnings { logger.warning("\(warning.description)") }
        guard validation.errors.isEmpty else {
            printErrors(validation.errors.map(\.description))
            await database.close(group: group)
            throw ExitCode(1)
        }

        logger.info(
            "L1 configured",
            metadata: [
                "max_bytes": "\(configuration.l1MaxMemory)", "shards": "\(configuration.l1Shards)",
                "max_entries": "\(configuration.l1MaxEntries.map(String.init) ?? "none")",
                "eviction": "\(configuration.l1Eviction.rawValue)",
            ]
        )
        if let l2 = configuration.l2 {
            logger.info(
                "L2 configured",
                metadata: [
                    "redis": "\(l2.url)", "prefix": "\(l2.prefix)", "connections": "one per event loop",
                    "timeout": "\(l2.commandTimeout)", "degraded_l1_ttl": "\(l2.degradedL1Lifetime)",
                ]
            )
        } else {
            logger.info("L2 not configured (no --redis): L1 only, no cross-sidecar invalidation")
        }
        if let file = configuration.usersFile {
            logger.info("users loaded", metadata: ["file": "\(file)", "users": "\(access.users.joined(separator: ","))"])
        }
        if !access.isOpen { logger.info("clients must authenticate (requirepass or users file set)") }
        let loopback = ["127.0.0.1", "::1", "localhost"]
        let hosts = [configuration.host] + (configuration.adminListen.map { [$0.host] } ?? [])
        if configuration.protectedMode, access.isOpen, !hosts.allSatisfy(loopback.contains) {
            logger.warning(
                """
                protected mode: no password is set, so only clients on this machine are served; set --requirepass \
                or --users, or --protected-mode no if the network is yours alone
                """)
        }

        let proxy = try Proxy(
            configuration: configuration,
            policy: policySet,
            validation: validation,
            adapter: adapter,
            eventLoopGroup: group,
            logger: logger
        )
        let inexact = proxy.policy.types.filter { !$0.idsAreExact }.map(\.name)
        if !inexact.isEmpty {
            logger.info(
                "keyed writes invalidate the whole type: the database may match one row by several ids",
                metadata: ["types": "\(inexact.joined(separator: ","))"]
            )
        }
        let services = ServiceGroup(
            configuration: .init(
                services: proxy.services(group: group, logger: logger).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await services.run()
        } catch {
            logger.error("stopped on error", metadata: ["error": "\(error)"])
            await database.close(group: group)
            throw ExitCode(1)
        }
        // The requests in flight had the drain timeout to finish: a statement still running now (a runaway QUERY)
        // would keep the thread pool, and so the process, from ending.
        await database.close(group: group)
        logger.notice("shut down")
    }

    /// The `--tls-*` options as one setting, checked together; nil when none is given.
    private func resolveTLS() throws -> TLSSettings? {
        let certificate = tlsCertFile ?? Environment.value("TIERCACHE_TLS_CERT_FILE")
        let key = tlsKeyFile ?? Environment.value("TIERCACHE_TLS_KEY_FILE")
        let ca = tlsCACertFile ?? Environment.value("TIERCACHE_TLS_CA_CERT_FILE")
        let listenText = tlsListen ?? Environment.value("TIERCACHE_TLS_LISTEN")
        let authText = Environment.resolve(tlsAuthClients, "TIERCACHE_TLS_AUTH_CLIENTS", default: "no")
        let adminText = Environment.resolve(adminTLS, "TIERCACHE_ADMIN_TLS", default: "no")
        guard let clientAuthentication = TLSSettings.ClientAuthentication(rawValue: authText.lowercased()) else {
            throw ValidationError("--tls-auth-clients must be no, optional or yes; got '\(authText)'")
        }
        guard ["yes", "no"].contains(adminText.lowercased()) else {
            throw ValidationError("--admin-tls must be yes or no; got '\(adminText)'")
        }
        let admin = adminText.lowercased() == "yes"
        guard certificate != nil || key != nil || listenText != nil || admin else { return nil }
        guard let certificate, let key else {
            throw ValidationError("TLS needs both --tls-cert-file and --tls-key-file")
        }
        if clientAuthentication != .no, ca == nil {
            throw ValidationError("--tls-auth-clients \(clientAuthentication.rawValue) needs --tls-ca-cert-file")
        }
        var listen: ListenAddress?
        if let listenText {
            guard let (host, port) = Self.parseListen(listenText) else {
                throw ValidationError("--tls-listen must be HOST:PORT (e.g. 0.0.0.0:6381); got '\(listenText)'")
            }
            listen = ListenAddress(host: host, port: port)
        }
        guard listen != nil || admin else {
            throw ValidationError("a TLS certificate is given but nothing uses it: add --tls-listen or --admin-tls yes")
        }
        return TLSSettings(
            certificateFile: certificate, keyFile: key, caCertificateFile: ca,
            clientAuthentication: clientAuthentication, listen: listen, admin: admin)
    }

    private func resolveConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        let address = Environment.resolve(listen, "TIERCACHE_LISTEN", default: "127.0.0.1:6380")
        if address == "off" {
            configuration.plainListener = false
        } else {
            guard let (host, port) = Self.parseListen(address) else {
                throw ValidationError(
                    "--listen must be HOST:PORT (e.g. 127.0.0.1:6380 or [::1]:6380) or off; got '\(address)'")
            }
            configuration.host = host
            configuration.port = port
        }
        configuration.tls = try resolveTLS()
        if !configuration.plainListener, configuration.tls?.listen == nil {
            throw ValidationError("--listen off needs --tls-listen: clients would have no port at all")
        }

        configuration.database = try databaseOptions.resolve()
        configuration.policyPath = Environment.resolve(policies, "TIERCACHE_POLICIES", default: "ttl-policies")

        let memory = Environment.resolve(l1MaxMemory, "TIERCACHE_L1_MAX_MEMORY", default: "256mb")
        guard let bytes = ByteSize.parse(memory) else {
            throw ValidationError("--l1-max-memory must be a size like 268435456, 256mb or 1g; got '\(memory)'")
        }
        configuration.l1MaxMemory = bytes
        configuration.requirePassword = requirepass ?? Environment.value("TIERCACHE_REQUIREPASS")
        configuration.usersFile = users ?? Environment.value("TIERCACHE_USERS")
        if let webhook = alertWebhook ?? Environment.value("TIERCACHE_ALERT_WEBHOOK") {
            guard AlertWebhook.Target(webhook) != nil else {
                throw ValidationError(AlertWebhookURLError(url: webhook).description)
            }
            configuration.alertWebhook = webhook
        }
        let admin = Environment.resolve(adminListen, "TIERCACHE_ADMIN_LISTEN", default: "127.0.0.1:9680")
        if admin != "off" {
            guard let (host, port) = Self.parseListen(admin) else {
                throw ValidationError("--admin-listen must be HOST:PORT or off (e.g. 127.0.0.1:9680); got '\(admin)'")
            }
            configuration.adminListen = ListenAddress(host: host, port: port)
        }

        for setting in Self.settings { try setting.apply(self, to: &configuration) }
        if maxResultSize == nil, Environment.value("TIERCACHE_MAX_RESULT_SIZE") == nil {
            // Room for the largest value a client may SET, and its row: what can be written can be read back.
            configuration.maxResultSize = configuration.protocolLimits.maxBulkLength + 1024 * 1024
        }
        let hotKeysPath = hotKeysFile ?? Environment.value("TIERCACHE_HOT_KEYS_FILE")
        let defaultHotKeysFile =
            switch configuration.database {
            case .sqlite(let path): path + ".hotkeys"
            case .postgres: "tiercache.hotkeys"
            }
        configuration.hotKeysFile =
            hotKeysPath == "off" ? nil : hotKeysPath.flatMap { $0.isEmpty ? nil : $0 } ?? defaultHotKeysFile
        configuration.l2 = try resolveL2()
        // The options above refuse what they can't parse; the configuration checks what the server relies on.
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return configuration
    }

    private func resolveL2() throws -> L2Configuration? {
        guard let text = redis ?? Environment.value("TIERCACHE_REDIS") else { return nil }
        let url: RedisURL
        do {
            url = try RedisURL(parsing: text)
        } catch {
            throw ValidationError("--redis: \(error.message)")
        }
        var l2 = L2Configuration(url: url)
        for setting in Self.l2Settings { try setting.apply(self, to: &l2) }
        return l2
    }

    /// A duration as policy files write one (`500ms`, `2s`, `1m`; a bare number is seconds); must be positive.
    static func parseDuration(_ text: String) -> Duration? {
        guard let ttl = try? TTL(parsing: text), ttl.milliseconds > 0 else { return nil }
        return .milliseconds(ttl.milliseconds)
    }

    /// A breaker's `key=value,…` settings over `base`.
    static func breaker(
        _ spec: String,
        flag: String,
        base: CircuitBreakerConfiguration
    ) throws -> CircuitBreakerConfiguration {
        do {
            return try CircuitBreakerConfiguration(parsing: spec, base: base) { text in
                parseDuration(text).map { UInt64(clamping: $0.wholeNanoseconds) }
            }
        } catch {
            throw ValidationError("\(flag): \(error.message)")
        }
    }

    /// `0` (off, as `.some(nil)`) or a positive duration; nil when neither.
    static func parseDurationOrOff(_ text: String) -> Duration?? {
        if text == "0" { return .some(nil) }
        return parseDuration(text).map { .some($0) }
    }

    /// `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (loopback).
    static func parseListen(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// `--demo-benchmark-keys`: rows of the demo's `key` type when an absent SQLite file is created.
    private func demoBenchmarkKeyCount() throws -> Int {
        var benchmarkKeys = DemoDatabase.defaultBenchmarkKeys
        try ServeSetting(
            "--demo-benchmark-keys", \.demoBenchmarkKeys, expected: "a count, 0 or more",
            { Int($0).flatMap { $0 >= 0 ? $0 : nil } }, into: \.self
        ).apply(self, to: &benchmarkKeys)
        return benchmarkKeys
    }
}

/// Writes lines to standard error, unbuffered, so they precede the exit.
func printErrors(_ lines: [String]) {
    for line in lines {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
