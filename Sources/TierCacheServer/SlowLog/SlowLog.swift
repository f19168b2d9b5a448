import Synchronization
import TierCacheBackend
import TierCacheSupport

/// Database statements slower than `--slow-log-threshold` (loads, QUERY, writes, transactions), newest last, at
/// most `--slow-log-max-len` of them: what Redis' `SLOWLOG` shows for commands, here for the statements behind
/// them. Recording is off the hit path (only a statement's completion checks the threshold) and takes one lock.
final class SlowLog: Sendable {
    /// One slow statement. `arguments` are what `SLOWLOG GET` shows as the command: the operation (`LOAD`,
    /// `QUERY`, `STORE`, `DELETE`, `EXEC`, `TRANSACTION`), the data type (`-` for none), the statement and its
    /// parameters, truncated as Redis truncates a command's arguments.
    struct Entry: Sendable, Equatable {
        var id: Int64
        var unixSeconds: Int64
        var durationMicroseconds: Int64
        var operation: String
        var type: String
        var arguments: [String]
        var client: String
        var clientName: String
    }

    /// Redis' limits for one entry: 32 arguments, 128 bytes each, the rest said in words.
    static let maxArguments = 32
    static let maxArgumentBytes = 128

    /// Nil: nothing is logged.
    let thresholdNanoseconds: UInt64?
    let maxLength: Int
    private let state = Mutex(Ring())

    private struct Ring {
        var entries: [Entry] = []
        /// Where the oldest entry is once the ring is full.
        var start = 0
        var nextID: Int64 = 0
    }

    init(threshold: Duration?, maxLength: Int) {
        self.thresholdNanoseconds = threshold.map { UInt64(clamping: $0.wholeNanoseconds) }
        self.maxLength = max(0, maxLength)
    }

    /// Whether a statement that took `nanoseconds` belongs in the log.
    @inline(__always)
    func isSlow(_ nanoseconds: UInt64) -> Bool {
        guard let thresholdNanoseconds else { return false }
        return nanoseconds >= thresholdNanoseconds
    }

    /// Logs a statement if it took long enough (`isSlow`).
    func record(
        operation: String, type: String?, sql: String, parameters: [SQLValue], nanoseconds: UInt64,
        client: ClientRecord?, unixMicroseconds: UInt64
    ) {
        guard isSlow(nanoseconds), maxLength > 0 else { return }
        var arguments = [operation, type ?? "-", sql] + parameters.map(\.slowLogText)
        if arguments.count > Self.maxArguments {
            let more = arguments.count - (Self.maxArguments - 1)
            arguments = Array(arguments.prefix(Self.maxArguments - 1)) + ["... (\(more) more arguments)"]
        }
        arguments = arguments.map(Self.truncated)
        let clientName = client?.name ?? ""
        state.withLock { ring in
            let entry = Entry(
                id: ring.nextID, unixSeconds: Int64(unixMicroseconds / 1_000_000),
                durationMicroseconds: Int64(nanoseconds / 1000), operation: operation, type: type ?? "-",
                arguments: arguments, client: client?.address ?? "", clientName: clientName)
            ring.nextID += 1
            if ring.entries.count < maxLength {
                ring.entries.append(entry)
            } else {
                ring.entries[ring.start] = entry
                ring.start = (ring.start + 1) % maxLength
            }
        }
    }

    /// The newest `count` entries (all when nil), newest first, as `SLOWLOG GET` answers.
    func newest(_ count: Int?) -> [Entry] {
        state.withLock { ring in
            let ordered = ring.entries[ring.start...] + ring.entries[..<ring.start]
            return Array(ordered.reversed().prefix(count ?? ordered.count))
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    func reset() {
        state.withLock { ring in
            ring.entries.removeAll()
            ring.start = 0
        }
    }

    private static func truncated(_ text: String) -> String {
        let bytes = text.utf8.count
        guard bytes > maxArgumentBytes else { return text }
        var kept = Substring(text)
        while kept.utf8.count > maxArgumentBytes { kept.removeLast() }
        return kept + "... (\(bytes - kept.utf8.count) more bytes)"
    }
}

extension SQLValue {
    /// A parameter as the slow log shows it: text as it is, numbers in decimal, bytes that are not UTF-8 in hex.
    fileprivate var slowLogText: String {
        switch self {
        case .null: "NULL"
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .text(let bytes), .blob(let bytes): String(validating: bytes, as: UTF8.self) ?? "x'\(Hex.string(bytes))'"
        }
    }

}
