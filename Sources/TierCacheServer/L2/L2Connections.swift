import NIOCore
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// One ``L2Connection`` per event loop of the server's group, usable from any thread: a caller on an event loop
/// uses that loop's connection directly; any other caller hops to one.
final class L2Connections: Sendable {
    private let connections: [NIOLoopBound<L2Connection>]
    private let loops: [any EventLoop]
    private let flags: [L2ConnectionFlag]
    private let next = L2RoundRobin()

    init(
        group: any EventLoopGroup,
        configuration: L2Configuration,
        roundTrip: LatencyRecorder,
        breaker: Breaker? = nil,
        clock: any ServerClock,
        onEvent: @escaping @Sendable (L2Connection.Event) -> Void
    ) {
        var connections: [NIOLoopBound<L2Connection>] = []
        var loops: [any EventLoop] = []
        var flags: [L2ConnectionFlag] = []
        for (index, loop) in group.makeIterator().enumerated() {
            let flag = L2ConnectionFlag()
            // Built on its loop: the connection is loop-confined from birth. The group is running (it was just
            // made), so the task runs.
            let made = loop.submit {
                NIOLoopBound(
                    L2Connection(
                        eventLoop: loop, index: index, configuration: configuration, flag: flag,
                        roundTrip: roundTrip, breaker: breaker, clock: clock, onEvent: onEvent),
                    eventLoop: loop)
            }
            guard let connection = try? made.wait() else {
                preconditionFailure("the event loop group shut down before the L2 connections were made")
            }
            connections.append(connection)
            loops.append(loop)
            flags.append(flag)
        }
        self.connections = connections
        self.loops = loops
        self.flags = flags
    }

    func start() {
        for (connection, loop) in zip(connections, loops) {
            loop.execute { connection.value.start() }
        }
    }

    /// Closes every connection; waits for each loop to have done it.
    func shutdown() {
        for (connection, loop) in zip(connections, loops) {
            try? loop.submit { connection.value.shutdown() }.wait()
        }
    }

    var isConnected: Bool { flags.contains { $0.isUp } }
    var connectedCount: Int { flags.reduce(0) { $0 + ($1.isUp ? 1 : 0) } }
    var count: Int { connections.count }

    /// The connection of the event loop the caller runs on, if it runs on one of the group's.
    func local() -> L2Connection? {
        for (index, loop) in loops.enumerated() where loop.inEventLoop { return connections[index].value }
        return nil
    }

    /// Runs `body` with a connection: this loop's when called on one, else another's on its loop.
    func withConnection(_ body: @escaping @Sendable (L2Connection) -> Void) {
        for (index, loop) in loops.enumerated() where loop.inEventLoop {
            body(connections[index].value)
            return
        }
        let index = next.take() % connections.count
        let connection = connections[index]
        loops[index].execute { body(connection.value) }
    }

    /// Sends `commands` as consecutive requests; `completion` (on a connection's loop) gets their replies in
    /// order, or the first failure.
    func submit(
        _ commands: [[[UInt8]]],
        completion: @escaping @Sendable (Result<[RedisReply], RedisError>) -> Void
    ) {
        withConnection { connection in
            var replies: [RedisReply] = []
            replies.reserveCapacity(commands.count)
            var failed = false
            for command in commands {
                connection.send(command) { result in
                    guard !failed else { return }
                    switch result {
                    case .success(let reply):
                        replies.append(reply)
                        if replies.count == commands.count { completion(.success(replies)) }
                    case .failure(let error):
                        failed = true
                        completion(.failure(error))
                    }
                }
            }
        }
    }
}
