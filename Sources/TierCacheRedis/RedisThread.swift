import Glibc

/// A plain OS thread for blocking Redis I/O: hiredis calls block, so they get threads of their own instead of
/// borrowing an event loop's or the Swift concurrency pool's.
struct RedisThread: Sendable {
    private let handle: pthread_t

    /// Starts a thread running `body`.
    static func spawn(_ body: @escaping @Sendable () -> Void) -> RedisThread {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(
            &handle, nil,
            { argument in
                // The pointer is the retained box passed to pthread_create, never nil.
                let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
                body.run()
                return nil
            }, box)
        precondition(status == 0, "cannot start a Redis I/O thread: error \(status)")
        return RedisThread(handle: handle)
    }

    /// Waits for the thread to end.
    func join() {
        _ = pthread_join(handle, nil)
    }

    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
