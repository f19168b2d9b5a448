import CHiredis
import Dispatch
import Glibc
import Synchronization

/// (B) hiredis' async API, one `redisAsyncContext` per serial DispatchQueue, its socket watched by Dispatch sources.
/// `inlineFlush` writes a submitted batch right away instead of waiting for the write source to report the socket
/// writable (it nearly always is), saving one trip through Dispatch's epoll thread per batch.
final class AsyncDispatchClient: RedisGetClient {
    private let connections: [AsyncConnection]
    private let nextConnection = Atomic<Int>(0)

    init(host: String, port: Int32, connections: Int, inlineFlush: Bool) throws {
        self.connections = try (0..<connections).map { index in
            try AsyncConnection(host: host, port: port, label: "redis-async-\(index)", inlineFlush: inlineFlush)
        }
    }

    func get(_ key: [UInt8], completion: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        let index = nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue
        connections[index % connections.count].submit(.init(key: key, completion: completion))
    }

    func shutdown() {
        for connection in connections { connection.close() }
    }
}

/// Travels through hiredis as a reply callback's privdata (retained once, released by that callback).
private final class CompletionBox {
    let completion: @Sendable (Result<[UInt8]?, any Error>) -> Void
    init(_ completion: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) { self.completion = completion }
}

/// One async context plus the event-library adapter hiredis expects (`ev.addRead` … `ev.cleanup`).
///
/// @unchecked Sendable is safe because `pending` is behind a Mutex and everything else mutable is touched only on
/// the serial `queue`: hiredis invokes the `ev` hooks and reply callbacks solely from inside the hiredis calls we
/// make on `queue`, and both Dispatch sources deliver their handlers on `queue`.
private final class AsyncConnection: @unchecked Sendable {
    private let queue: DispatchQueue
    private let inlineFlush: Bool
    private let pending = Mutex<[GetRequest]>([])
    private let connected = DispatchSemaphore(value: 0)
    private let closed = DispatchSemaphore(value: 0)

    // Queue-confined state.
    private var context: UnsafeMutablePointer<redisAsyncContext>?  // nil once hiredis has freed it
    private var fd: Int32 = -1
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var reading = false  // read source resumed? Sources start suspended (inactive).
    private var writing = false
    private var liveSources = 0
    private var connectStatus = REDIS_ERR
    private var spare: [GetRequest] = []  // swapped with `pending` so neither buffer is reallocated per batch

    init(host: String, port: Int32, label: String, inlineFlush: Bool) throws {
        queue = DispatchQueue(label: label)
        self.inlineFlush = inlineFlush
        let attachError: String? = queue.sync { attach(host: host, port: port) }
        if let attachError { throw RedisError(description: attachError) }
        connected.wait()
        if queue.sync(execute: { connectStatus }) != REDIS_OK {
            closed.wait()  // hiredis frees a context whose connect failed; wait for our sources to go
            throw RedisError(description: "async connect to \(host):\(port) failed")
        }
    }

    func submit(_ request: GetRequest) {
        // Only the empty → non-empty transition schedules a drain; later callers ride along with it.
        let first = pending.withLock { queued in
            queued.append(request)
            return queued.count == 1
        }
        if first { queue.async { self.issuePending() } }
    }

    /// Disconnects once outstanding replies have arrived and waits until the socket is closed.
    func close() {
        queue.async {
            if let context = self.context { redisAsyncDisconnect(context) }
        }
        closed.wait()
    }

    // MARK: On `queue`

    private func attach(host: String, port: Int32) -> String? {
        guard let context = redisAsyncConnect(host, port) else { return "redisAsyncConnect: out of memory" }
        guard context.pointee.err == 0 else {
            let message = context.pointee.errstr.map { String(cString: $0) } ?? "unknown error"
            redisAsyncFree(context)
            return "redisAsyncConnect: \(message)"
        }
        self.context = context
        fd = context.pointee.c.fd
        let readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let writeSource = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        // The handlers capture self strongly on purpose: the cycle keeps this object alive exactly until the
        // sources are cancelled (Dispatch drops the handlers then), even if the client was released earlier.
        readSource.setEventHandler { if let context = self.context { redisAsyncHandleRead(context) } }
        writeSource.setEventHandler { if let context = self.context { redisAsyncHandleWrite(context) } }
        for source in [readSource as any DispatchSourceProtocol, writeSource] {
            source.setCancelHandler { self.sourceCancelled() }
        }
        liveSources = 2
        self.readSource = readSource
        self.writeSource = writeSource

        // Unretained: the sources' handlers keep self alive for longer than hiredis can call these hooks.
        context.pointee.ev.data = Unmanaged.passUnretained(self).toOpaque()
        context.pointee.ev.addRead = { AsyncConnection.from($0).setReading(true) }
        context.pointee.ev.delRead = { AsyncConnection.from($0).setReading(false) }
        context.pointee.ev.addWrite = { AsyncConnection.from($0).setWriting(true) }
        context.pointee.ev.delWrite = { AsyncConnection.from($0).setWriting(false) }
        context.pointee.ev.cleanup = { AsyncConnection.from($0).cleanup() }
        // Must come after the hooks: hiredis calls addWrite here, and the first writable event completes connect.
        _ = redisAsyncSetConnectCallback(context) { context, status in
            guard let data = context?.pointee.ev.data else { return }
            let connection = AsyncConnection.from(data)
            connection.connectStatus = status
            connection.connected.signal()
        }
        return nil
    }

    private static func from(_ data: UnsafeMutableRawPointer?) -> AsyncConnection {
        // `ev.data` is set to self in attach() before any hook can run.
        Unmanaged<AsyncConnection>.fromOpaque(data!).takeUnretainedValue()
    }

    // hiredis calls add/del repeatedly ("should be idempotent"); Dispatch counts suspends, so only transitions may
    // suspend or resume — one unbalanced resume crashes, one unbalanced suspend silently stalls the connection.
    private func setReading(_ on: Bool) {
        guard on != reading, let readSource else { return }
        reading = on
        if on { readSource.resume() } else { readSource.suspend() }
    }

    private func setWriting(_ on: Bool) {
        guard on != writing, let writeSource else { return }
        writing = on
        if on { writeSource.resume() } else { writeSource.suspend() }
    }

    /// hiredis is freeing the context (after `redisAsyncDisconnect` or an I/O error).
    private func cleanup() {
        guard let context else { return }
        self.context = nil  // handlers still queued must not touch the freed context
        // redisFree would close the fd right after this hook, but Dispatch wants it open until the sources' cancel
        // handlers ran: its Linux epoll backend keys registrations by fd number, so a number reused early by the
        // next connection could alias the old registration. So hiredis gets -1 and the last cancel handler closes.
        context.pointee.c.fd = -1
        // A cancelled source must still be resumed to balance its suspend count: libdispatch crashes on "Release
        // of a suspended object" / "Release of an inactive object", and the cancel handler only runs once resumed.
        if let readSource {
            readSource.cancel()
            if !reading { readSource.resume() }
        }
        if let writeSource {
            writeSource.cancel()
            if !writing { writeSource.resume() }
        }
        reading = false
        writing = false
    }

    private func sourceCancelled() {
        liveSources -= 1
        guard liveSources == 0 else { return }
        Glibc.close(fd)
        readSource = nil
        writeSource = nil
        // A failed connect never reports to `connected` otherwise; the extra signal is harmless after success.
        connected.signal()
        closed.signal()
    }

    private func issuePending() {
        pending.withLock { swap(&$0, &spare) }
        defer { spare.removeAll(keepingCapacity: true) }
        for request in spare {
            guard let context else {
                request.completion(.failure(RedisError(description: "connection closed")))
                continue
            }
            let box = Unmanaged.passRetained(CompletionBox(request.completion)).toOpaque()
            let rc = withGetArgv(request.key) { argv, lengths in
                redisAsyncCommandArgv(context, { context, reply, privdata in
                    // privdata is the box retained just above; hiredis calls each callback exactly once (with a nil
                    // reply when the connection dies) and frees `reply` after we return, so copy out of it now.
                    let box = Unmanaged<CompletionBox>.fromOpaque(privdata!).takeRetainedValue()
                    box.completion(decodeGetReply(reply, context: context?.pointee.errstr.map { String(cString: $0) }
                        ?? "connection closed"))
                }, box, 2, argv, lengths)
            }
            if rc != REDIS_OK {  // disconnecting: hiredis did not keep the callback
                Unmanaged<CompletionBox>.fromOpaque(box).release()
                request.completion(.failure(RedisError(description: "connection closing")))
            }
        }
        if inlineFlush, writing, let context { redisAsyncHandleWrite(context) }
    }
}
