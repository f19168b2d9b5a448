/// One alert's life, as a state machine fed an observation at a time: quiet → pending (the condition holds, for
/// less than `for`) → firing → quiet again (resolved). Notifications (the log line, the webhook, the event
/// stream) are what `observe` returns: a firing is notified unless another of the same alert was within
/// `cooldown` (a flapping alert notifies once per cooldown), and a resolution only when its firing was.
public struct AlertMachine: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case quiet
        case pending(since: UInt64)
        case firing(since: UInt64)
    }

    public enum Notification: Sendable, Equatable {
        case fired
        case resolved
    }

    public private(set) var phase = Phase.quiet
    /// Times it fired and resolved, notified or not.
    public private(set) var fired = 0
    public private(set) var resolved = 0
    /// When the last firing was notified.
    private var lastNotified: UInt64?
    /// Whether the firing in progress was notified (then its resolution is too).
    private var firingNotified = false
    public let forNanoseconds: UInt64
    public let cooldownNanoseconds: UInt64

    public init(forNanoseconds: UInt64, cooldownNanoseconds: UInt64) {
        self.forNanoseconds = forNanoseconds
        self.cooldownNanoseconds = cooldownNanoseconds
    }

    public var isFiring: Bool {
        if case .firing = phase { return true }
        return false
    }

    /// Feeds whether the condition holds at `now` (monotonic nanoseconds); returns what to notify, if anything.
    public mutating func observe(_ holds: Bool, now: UInt64) -> Notification? {
        switch (phase, holds) {
        case (.quiet, true):
            guard forNanoseconds == 0 else {
                phase = .pending(since: now)
                return nil
            }
            return fire(now)
        case (.pending(let since), true):
            return now &- since >= forNanoseconds ? fire(now) : nil
        case (.pending, false):
            phase = .quiet
            return nil
        case (.firing, false):
            phase = .quiet
            resolved += 1
            defer { firingNotified = false }
            return firingNotified ? .resolved : nil
        case (.quiet, false), (.firing, true):
            return nil
        }
    }

    private mutating func fire(_ now: UInt64) -> Notification? {
        phase = .firing(since: now)
        fired += 1
        if let lastNotified, now &- lastNotified < cooldownNanoseconds {
            firingNotified = false
            return nil
        }
        lastNotified = now
        firingNotified = true
        return .fired
    }
}
