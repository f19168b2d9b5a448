import NIOCore
import ServiceLifecycle
import TierCacheSupport

/// Work repeated every `period` on an event loop until graceful shutdown, then `atShutdown` once: the sweeper,
/// the database health check, the hot-key snapshot writer.
final class PeriodicService: Service {
    let name: String
    private let eventLoop: any EventLoop
    private let initialDelay: Duration
    private let period: Duration
    private let tick: @Sendable () -> Void
    private let atShutdown: (@Sendable () -> Void)?

    init(
        _ name: String,
        on eventLoop: any EventLoop,
        every period: Duration,
        after initialDelay: Duration? = nil,
        atShutdown: (@Sendable () -> Void)? = nil,
        _ tick: @escaping @Sendable () -> Void
    ) {
        self.name = name
        self.eventLoop = eventLoop
        self.period = period
        self.initialDelay = initialDelay ?? period
        self.tick = tick
        self.atShutdown = atShutdown
    }

    func run() async {
        let tick = self.tick
        let task = eventLoop.scheduleRepeatedTask(
            initialDelay: .nanoseconds(Int64(clamping: initialDelay.wholeNanoseconds)),
            delay: .nanoseconds(Int64(clamping: period.wholeNanoseconds))
        ) { _ in tick() }
        try? await gracefulShutdown()
        task.cancel()
        atShutdown?()
    }
}
