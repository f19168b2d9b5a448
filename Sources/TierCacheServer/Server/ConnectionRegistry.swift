import NIOCore
import Synchronization

/// The open client connections, so a graceful shutdown can ask each to finish its in-flight requests and close,
/// and `CLIENT LIST` can show them.
final class ConnectionRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: (channel: any Channel, record: ClientRecord)]>([:])

    var count: Int { channels.withLock { $0.count } }

    func add(_ channel: any Channel, record: ClientRecord) {
        channels.withLock { $0[ObjectIdentifier(channel)] = (channel, record) }
    }

    /// Every open connection's record, by id.
    var records: [ClientRecord] {
        channels.withLock { $0.values.map(\.record) }.sorted { $0.id < $1.id }
    }

    func remove(_ channel: any Channel) {
        channels.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Asks every connection to finish what it started and close, and waits until all have or `timeout` passes;
    /// then closes those left, and waits (briefly) until they are closed. So nothing is written to them after the
    /// drain: the server interrupts the statements still running next, and their errors must not reach a client
    /// that was told nothing.
    ///
    /// - Returns: how many were still open at the timeout.
    func drain(timeout: Duration) async -> Int {
        for channel in channels.withLock({ $0.values.map(\.channel) }) {
            channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Drain())
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while count > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let left = count
        guard left > 0 else { return 0 }
        for channel in channels.withLock({ $0.values.map(\.channel) }) {
            channel.close(promise: nil)
        }
        // A close runs on the connection's event loop; each unregisters itself when it is done.
        let closed = clock.now.advanced(by: .seconds(1))
        while count > 0, clock.now < closed {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return left
    }
}
