import Synchronization

/// Where the proxy is in its life, as the health probes report it: starting until the client port listens,
/// serving, then draining from the moment graceful shutdown stops accepting connections.
final class ServingPhase: Sendable {
    enum Phase: UInt8 {
        case starting, serving, draining
    }

    private let value = Atomic<UInt8>(Phase.starting.rawValue)

    var current: Phase { Phase(rawValue: value.load(ordering: .relaxed)) ?? .starting }

    /// Moves forward only: a late "serving" cannot undo "draining".
    func advance(to phase: Phase) {
        var current = value.load(ordering: .relaxed)
        while current < phase.rawValue {
            let (exchanged, original) = value.compareExchange(
                expected: current, desired: phase.rawValue, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
