import TierCacheBackend
import TierCacheStats

/// Counters and latency recorders of the whole proxy, created once at start-up so the request path only
/// increments them.
public final class ProxyStats: Sendable {
    /// One recorder per command kind, indexed by `CommandKind.rawValue`.
    public let commands: [LatencyRecorder]
    public let backend: BackendRecorders
    public let connectionsOpen = Gauge()
    public let connectionsAccepted = Counter()
    public let commandsProcessed = Counter()
    public let protocolErrors = Counter()
    public let errorReplies = Counter()
    public let rejectedAuth = Counter()
    /// Commands refused NOPERM: outside the user's categories, or on a type it may not touch.
    public let refusedPermission = Counter()
    /// TLS connections that failed their handshake or broke TLS (a plain-text client on the TLS port, a refused
    /// or missing client certificate, TLS below 1.2).
    public let tlsFailures = Counter()
    /// Connections refused at `--max-clients`.
    public let rejectedConnections = Counter()
    /// Connections (and admin listener requests) from other machines refused in protected mode.
    public let deniedConnections = Counter()
    /// Connections closed after `--idle-timeout` of nothing.
    public let idleClosed = Counter()
    /// Connections closed because a command stayed incomplete for `--request-timeout` (slowloris).
    public let slowRequestsClosed = Counter()
    /// Times a connection stopped reading because its client was not reading its replies.
    public let outputPaused = Counter()
    /// Connections closed with more than `--max-output-buffer` of replies unread and no progress.
    public let outputLimitClosed = Counter()
    /// Connections closed because all clients' unexecuted input went over `--max-input-buffers` and theirs was
    /// among the largest.
    public let inputBudgetClosed = Counter()

    public init() {
        commands = CommandKind.allCases.map { LatencyRecorder(name: $0.name) }
        backend = BackendRecorders()
    }

    @inline(__always)
    public func recorder(for command: CommandKind) -> LatencyRecorder {
        commands[command.rawValue]
    }
}

/// Latency of each kind of backend operation.
public final class BackendRecorders: Sendable {
    public let load = LatencyRecorder(name: "load")
    public let query = LatencyRecorder(name: "query")
    public let store = LatencyRecorder(name: "store")
    public let delete = LatencyRecorder(name: "delete")
    public let exec = LatencyRecorder(name: "exec")
    /// Whole `MULTI … EXEC` transactions, from `BEGIN` to `COMMIT`.
    public let transaction = LatencyRecorder(name: "transaction")
    /// Failures by operation (a recorder's name) and `BackendError.Code`.
    public let errors = ErrorCounts()

    public var all: [LatencyRecorder] { [load, query, store, delete, exec, transaction] }

    /// Counts `error` against `operation` (`load`, `store`, … as the recorders are named).
    public func countError(_ error: BackendError, operation: String) {
        errors.increment(operation: operation, kind: error.code.rawValue)
    }
}
