import CHiredis
import Dispatch
import Glibc
import Synchronization

/// (A) K dedicated threads, each owning one blocking `redisContext`. A worker takes everything queued since its last
/// round, writes it as one pipeline (`redisAppendCommandArgv` only buffers; the first `redisGetReply` flushes it all)
/// and then reads the replies in order. Concurrent callers thus get pipelining without any explicit batching API.
final class BlockingBatchedClient: RedisGetClient {
    private let workers: [BlockingWorker]
    private let nextWorker = Atomic<Int>(0)

    init(host: String, port: Int32, connections: Int) throws {
        workers = try (0..<connections).map { _ in try BlockingWorker(host: host, port: port) }
    }

    func get(_ key: [UInt8], completion: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        let index = nextWorker.wrappingAdd(1, ordering: .relaxed).oldValue
        workers[index % workers.count].mailbox.push(.init(key: key, completion: completion))
    }

    func shutdown() {
        for worker in workers { worker.stop() }
    }
}

/// Carries the context pointer into the worker thread.
/// @unchecked Sendable is safe: it is created before the thread starts and used by that one thread only afterwards.
private struct OwnedContext: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<redisContext>
}

private final class BlockingWorker: Sendable {
    /// Bounds one pipeline so the first caller in a huge batch does not wait for the last reply of it.
    static let maxPipeline = 512

    let mailbox: Mailbox<GetRequest>
    private let thread: pthread_t

    init(host: String, port: Int32) throws {
        let timeout = timeval(tv_sec: 2, tv_usec: 0)
        guard let context = redisConnectWithTimeout(host, port, timeout) else {
            throw RedisError(description: "redisConnectWithTimeout: out of memory")
        }
        guard context.pointee.err == 0 else {
            let message = withUnsafeBytes(of: context.pointee.errstr) { errstr in
                String(decoding: errstr.prefix { $0 != 0 }, as: UTF8.self)
            }
            redisFree(context)
            throw RedisError(description: "connect: \(message)")
        }
        // A dead server must fail requests after 2 s rather than hang the worker forever.
        _ = redisSetTimeout(context, timeout)
        let mailbox = Mailbox<GetRequest>()
        let owned = OwnedContext(pointer: context)
        self.mailbox = mailbox
        self.thread = spawnThread { BlockingWorker.run(owned.pointer, mailbox) }
    }

    /// Lets the worker finish what is queued, then joins it (the thread frees its context).
    func stop() {
        mailbox.close()
        pthread_join(thread, nil)
    }

    private static func run(_ context: UnsafeMutablePointer<redisContext>, _ mailbox: Mailbox<GetRequest>) {
        var batch: [GetRequest] = []
        while mailbox.take(into: &batch) {
            var start = 0
            while start < batch.count {
                let end = min(start + maxPipeline, batch.count)
                for index in start..<end {
                    let rc = withGetArgv(batch[index].key) { argv, lengths in
                        redisAppendCommandArgv(context, 2, argv, lengths)
                    }
                    // Appending only formats into the output buffer; it fails solely when malloc does.
                    precondition(rc == REDIS_OK, "redisAppendCommandArgv: out of memory")
                }
                for index in start..<end {
                    // After an I/O error the context stays in error and every later call fails fast, so each
                    // remaining request gets an error instead of a reply meant for another one.
                    var raw: UnsafeMutableRawPointer?
                    let result: Result<[UInt8]?, any Error>
                    if redisGetReply(context, &raw) == REDIS_OK {
                        result = decodeGetReply(raw, context: "blocking")
                    } else {
                        result = .failure(RedisError(description: "redisGetReply failed (err \(context.pointee.err))"))
                    }
                    if let raw { freeReplyObject(raw) }
                    batch[index].completion(result)
                }
                start = end
            }
            batch.removeAll(keepingCapacity: true)
        }
        redisFree(context)
    }
}
