#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import CSQLite
import Synchronization

/// Stops a connection's statement that runs past its deadline, or any statement once the backend is stopping,
/// through SQLite's progress handler: SQLite then ends the statement with `SQLITE_INTERRUPT` and rolls back what
/// it wrote. A statement blocked in SQLite can't be abandoned from outside, so this is the only way to take back
/// a reader (or the writer) from a runaway `WITH RECURSIVE`.
///
/// Installed once per connection. The handler runs on the thread that runs the statement, which holds the
/// connection: `deadline` and `interruption` need no lock. `stopping` is the backend's, shared by every connection.
final class StatementWatchdog {
    /// Why the last statement was interrupted.
    enum Interruption {
        case deadline(milliseconds: Int64)
        case stopping
    }

    /// VM instructions between two looks at the clock: a few microseconds of work, so a statement stops within
    /// microseconds of its deadline, while the clock read costs well under 1 % of the statement's time.
    static let instructionsPerCheck: Int32 = 4096

    private let stopping: StopSignal
    /// Monotonic nanoseconds; 0: no deadline.
    private var deadline: UInt64 = 0
    private var budgetMilliseconds: Int64 = 0
    private(set) var interruption: Interruption?

    init(stopping: StopSignal) {
        self.stopping = stopping
    }

    func install(on connection: OpaquePointer) {
        sqlite3_progress_handler(
            connection, Self.instructionsPerCheck,
            { context in
                guard let context else { return 0 }
                return Unmanaged<StatementWatchdog>.fromOpaque(context).takeUnretainedValue().shouldInterrupt()
                    ? 1 : 0
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    static func uninstall(from connection: OpaquePointer) {
        sqlite3_progress_handler(connection, 0, nil, nil)
    }

    /// Runs `body`, one statement, interrupting it once it has run for `budget` (nil: no limit but stopping).
    func watching<Result, Failure>(
        for budget: Duration?,
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        interruption = nil
        if let budget {
            budgetMilliseconds = budget.components.seconds * 1000 + budget.components.attoseconds / 1_000_000_000_000_000
            deadline = Self.now() &+ UInt64(clamping: max(1, budgetMilliseconds) * 1_000_000)
        }
        defer { deadline = 0 }
        return try body()
    }

    private func shouldInterrupt() -> Bool {
        if stopping.isSet {
            interruption = .stopping
            return true
        }
        if deadline != 0, Self.now() >= deadline {
            interruption = .deadline(milliseconds: budgetMilliseconds)
            return true
        }
        return false
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}

/// Set once, when the backend stops: every statement still running is interrupted at its next check.
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }
}
