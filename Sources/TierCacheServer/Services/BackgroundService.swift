import ServiceLifecycle

/// A part that runs in the background from `start` until graceful shutdown, then `stop`s: the L2 tier, the
/// policy watcher, start-up warming.
final class BackgroundService: Service {
    let name: String
    private let start: @Sendable () -> Void
    private let stop: @Sendable () -> Void

    init(_ name: String, start: @escaping @Sendable () -> Void, stop: @escaping @Sendable () -> Void = {}) {
        self.name = name
        self.start = start
        self.stop = stop
    }

    func run() async {
        start()
        try? await gracefulShutdown()
        stop()
    }
}
