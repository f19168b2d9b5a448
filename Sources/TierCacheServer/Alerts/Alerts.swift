import Logging
import Synchronization
import TierCachePolicy
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// The policy's alerts, evaluated once a second (`evaluate`): each rule's figure is measured, fed to its
/// `AlertMachine`, and a firing or a resolution is logged, counted, kept for `STATS alerts` and `/alerts`, handed to
/// the listeners (the event stream) and posted to the webhook. A reload keeps the state of the rules it keeps
/// unchanged.
final class Alerts: Sendable {
    /// One rule and where it stands.
    struct Status: Sendable {
        var rule: AlertRule
        var machine: AlertMachine
        /// The figure at the last evaluation; nil when there was nothing to measure (no traffic in the window).
        var value: Double?
        /// Wall-clock microseconds of the last transition to firing or quiet.
        var changedAtMicroseconds: UInt64?
    }

    /// A notification as the log, the webhook and the event stream carry it.
    struct Notice: Sendable {
        var alert: String
        var state: String
        var value: Double?
        var threshold: Double?
        var condition: String
        var unixMicroseconds: UInt64

        var json: String {
            let number = { (value: Double?) in value.map { $0.isFinite ? String($0) : "null" } ?? "null" }
            return "{\"alert\": \(JSONText.quoted(alert)), \"state\": \(JSONText.quoted(state)), "
                + "\"value\": \(number(value)), \"threshold\": \(number(threshold)), "
                + "\"condition\": \(JSONText.quoted(condition)), "
                + "\"time\": \(JSONText.quoted(RFC3339.string(unixMicroseconds: unixMicroseconds)))}"
        }
    }

    private let state = Mutex<[Status]>([])
    private let samples = Mutex(AlertSamples())
    private let listeners = Mutex<[UInt64: @Sendable (Notice) -> Void]>([:])
    private let nextListener = Atomic<UInt64>(0)
    let webhook: AlertWebhook?
    private let logger: Logger

    init(webhook: AlertWebhook?, logger: Logger) {
        self.webhook = webhook
        self.logger = logger
    }

    /// Takes a policy's rules: unchanged rules keep their state, new ones start quiet, removed ones go (a firing
    /// one is not notified as resolved: the operator removed it).
    func adopt(_ rules: [AlertRule]) {
        state.withLock { statuses in
            let previous = Dictionary(statuses.map { ($0.rule.name, $0) }, uniquingKeysWith: { first, _ in first })
            statuses = rules.map { rule in
                if let kept = previous[rule.name], kept.rule == rule { return kept }
                return Status(
                    rule: rule,
                    machine: AlertMachine(
                        forNanoseconds: UInt64(rule.forMilliseconds) * 1_000_000,
                        cooldownNanoseconds: UInt64(rule.cooldownMilliseconds) * 1_000_000))
            }
        }
    }

    /// Measures every rule's figure now and moves its machine.
    func evaluate(_ proxy: Proxy) {
        let now = proxy.clock.monotonicNanoseconds()
        let wall = proxy.clock.wallClockMicroseconds()
        adoptIfChanged(proxy.policy.policies.alerts)
        let rules = state.withLock { $0.map(\.rule) }
        guard !rules.isEmpty else { return }
        let figures = AlertFigures(proxy: proxy)
        let window = rules.map { UInt64($0.windowMilliseconds) * 1_000_000 }.max() ?? 0
        let values: [Double?] = samples.withLock { samples in
            samples.add(figures.sample(for: rules, at: now), keep: window)
            return rules.map { figures.value(of: $0, in: samples) }
        }
        var notices: [Notice] = []
        state.withLock { statuses in
            for index in statuses.indices where index < values.count && statuses[index].rule == rules[index] {
                let rule = statuses[index].rule
                let value = values[index]
                let holds: Bool =
                    if let threshold = rule.threshold { value.map(threshold.isCrossed) ?? false } else { value == 1 }
                let wasFiring = statuses[index].machine.isFiring
                let notification = statuses[index].machine.observe(holds, now: now)
                statuses[index].value = value
                if statuses[index].machine.isFiring != wasFiring { statuses[index].changedAtMicroseconds = wall }
                guard let notification else { continue }
                notices.append(
                    Notice(
                        alert: rule.name, state: notification == .fired ? "firing" : "resolved", value: value,
                        threshold: rule.threshold?.limit, condition: rule.summary, unixMicroseconds: wall))
            }
        }
        for notice in notices { announce(notice) }
    }

    private func adoptIfChanged(_ rules: [AlertRule]) {
        let current = state.withLock { $0.map(\.rule) }
        if current != rules { adopt(rules) }
    }

    private func announce(_ notice: Notice) {
        let value = notice.value.map { " (value \($0))" } ?? ""
        if notice.state == "firing" {
            logger.warning("alert firing: \(notice.alert): \(notice.condition)\(value)")
        } else {
            logger.notice("alert resolved: \(notice.alert): \(notice.condition)\(value)")
        }
        for listener in listeners.withLock({ Array($0.values) }) { listener(notice) }
        webhook?.post(notice.json)
    }

    /// Calls `listener` with every notification until the returned token is passed to `stopListening`.
    func listen(_ listener: @escaping @Sendable (Notice) -> Void) -> UInt64 {
        let token = nextListener.wrappingAdd(1, ordering: .relaxed).newValue
        listeners.withLock { $0[token] = listener }
        return token
    }

    func stopListening(_ token: UInt64) {
        _ = listeners.withLock { $0.removeValue(forKey: token) }
    }

    var statuses: [Status] { state.withLock { $0 } }

    /// `STATS alerts`: how many fire, each rule's state, figure and counts, and the webhook's deliveries.
    func report(now wall: UInt64) -> StatsNode {
        let statuses = self.statuses
        let rules: [(String, StatsNode)] = statuses.map { status in
            let phase =
                switch status.machine.phase {
                case .quiet: "quiet"
                case .pending: "pending"
                case .firing: "firing"
                }
            var fields: [(String, StatsNode)] = [
                ("state", .text(phase)),
                ("condition", .text(status.rule.summary)),
                ("value", status.value.map { .double($0) } ?? .text("none")),
                ("fired", .integer(Int64(status.machine.fired))),
                ("resolved", .integer(Int64(status.machine.resolved))),
            ]
            if let at = status.changedAtMicroseconds {
                fields.append(("since_seconds", .double(Double(wall > at ? wall - at : 0) / 1e6)))
            }
            return (status.rule.name, .map(fields))
        }
        var node: [(String, StatsNode)] = [
            ("firing", .integer(Int64(statuses.filter(\.machine.isFiring).count))),
            ("rules", .map(rules)),
        ]
        if let webhook { node.append(("webhook", webhook.report)) }
        return .map(node)
    }
}
