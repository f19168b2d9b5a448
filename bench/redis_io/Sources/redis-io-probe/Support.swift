import CHiredis
import Dispatch
import Glibc
import Synchronization

/// The one operation both clients implement. `completion` runs on a client-owned thread or queue, never the caller's.
protocol RedisGetClient: Sendable {
    func get(_ key: [UInt8], completion: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void)
    /// Closes the connections; call only once no request is outstanding.
    func shutdown()
}

/// A queued call, as both clients store it until they hand it to hiredis.
struct GetRequest: Sendable {
    let key: [UInt8]
    let completion: @Sendable (Result<[UInt8]?, any Error>) -> Void
}

struct RedisError: Error, CustomStringConvertible {
    let description: String
}

/// Multi-producer, single-consumer hand-off between threads. The consumer sleeps on a semaphore only after it has
/// recorded, under the lock, that it is going to sleep; producers signal only on that transition. So every signal
/// matches exactly one wait (no lost wake-ups, no semaphore count piling up) and a busy consumer costs producers no
/// syscall at all.
final class Mailbox<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var sleeping = false
        var closed = false
    }
    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)

    func push(_ item: Item) {
        let wake = state.withLock { s -> Bool in
            s.items.append(item)
            defer { s.sleeping = false }
            return s.sleeping
        }
        if wake { wakeup.signal() }
    }

    /// Makes `take` return false once the queue is drained.
    func close() {
        let wake = state.withLock { s -> Bool in
            s.closed = true
            defer { s.sleeping = false }
            return s.sleeping
        }
        if wake { wakeup.signal() }
    }

    /// Moves everything queued into `batch` (pass it empty; its capacity is swapped in and reused), blocking while
    /// nothing is queued. Returns false when closed and drained.
    func take(into batch: inout [Item]) -> Bool {
        while true {
            let got = state.withLock { s -> Bool? in
                if !s.items.isEmpty {
                    swap(&s.items, &batch)
                    return true
                }
                if s.closed { return false }
                s.sleeping = true
                return nil
            }
            if let got { return got }
            wakeup.wait()
        }
    }
}

/// A real OS thread (the blocking client must not borrow Dispatch's pool threads for blocking reads).
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

func spawnThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { arg in
        // `arg` is the retained ThreadBody passed just below; this is its only consumer.
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
    }, context)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return thread
}

func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

private let getCommand: StaticString = "GET"

/// Calls `body` with hiredis' binary-safe argv/argvlen for `GET key`. hiredis formats (copies) the command before
/// returning, so the pointers only need to live for the call; a stack allocation avoids two arrays per request.
func withGetArgv<R>(_ key: [UInt8],
                    _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
    key.withUnsafeBufferPointer { keyBytes in
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: 2) { argv in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 2) { lengths in
                argv[0] = UnsafeRawPointer(getCommand.utf8Start).assumingMemoryBound(to: CChar.self)
                argv[1] = keyBytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                lengths[0] = getCommand.utf8CodeUnitCount
                lengths[1] = keyBytes.count
                // Both buffers were just allocated with capacity 2, so baseAddress is non-nil.
                return body(argv.baseAddress!, UnsafePointer(lengths.baseAddress!))
            }
        }
    }
}

/// Copies a GET reply out of hiredis' reply object (which the caller frees, or hiredis frees after the callback).
func decodeGetReply(_ raw: UnsafeMutableRawPointer?, context: @autoclosure () -> String) -> Result<[UInt8]?, any Error> {
    guard let reply = raw?.assumingMemoryBound(to: redisReply.self).pointee else {
        return .failure(RedisError(description: "no reply: \(context())"))
    }
    let bytes = reply.str.map { UnsafeRawBufferPointer(start: $0, count: reply.len) }
    switch reply.type {
    case REDIS_REPLY_STRING: return .success(bytes.map { Array($0) } ?? [])
    case REDIS_REPLY_NIL: return .success(nil)
    case REDIS_REPLY_ERROR: return .failure(RedisError(description: bytes.map { String(decoding: $0, as: UTF8.self) } ?? "error"))
    default: return .failure(RedisError(description: "unexpected reply type \(reply.type)"))
    }
}
