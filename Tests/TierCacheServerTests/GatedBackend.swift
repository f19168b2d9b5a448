import Dispatch
import Synchronization
import TierCacheBackend

/// A real backend with a gate tests can close around one read, to force an interleaving: the read runs, then waits
/// at the gate (holding the data it read) until the test opens it.
final class GatedBackend: Backend {
    private let backend: any Backend
    private let armed = Atomic<Bool>(false)
    private let readHeld = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    init(_ backend: any Backend) { self.backend = backend }

    /// The next read waits at the gate after reading.
    func closeAfterNextRead() { armed.store(true, ordering: .sequentiallyConsistent) }

    /// Waits until a read is held at the gate.
    func waitForHeldRead() async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.readHeld.wait()
                continuation.resume()
            }
        }
    }

    func open() { released.signal() }

    func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin) throws(BackendError) -> ReadResult {
        let result = try backend.read(sql, parameters: parameters, origin: origin)
        if armed.exchange(false, ordering: .sequentiallyConsistent) {
            readHeld.signal()
            released.wait()
        }
        return result
    }

    func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult {
        try backend.write(sql, parameters: parameters)
    }

    func inTransaction<T>(_ body: (any BackendTransaction) throws(BackendError) -> T) throws(BackendError) -> T {
        try backend.inTransaction(body)
    }

    func inspect(_ sql: String) throws(BackendError) -> StatementInfo { try backend.inspect(sql) }
    func comparesParametersExactly(_ sql: String) -> Bool { backend.comparesParametersExactly(sql) }
    var pools: [(name: String, report: ConnectionPoolReport)] { backend.pools }
    func checkHealth() -> BackendHealthCheck { backend.checkHealth() }
    func interruptAll() { backend.interruptAll() }
    func close() { backend.close() }
}
