import NIOCore
import Synchronization
import TierCacheCache
import TierCacheStats

/// Makes concurrent misses for one key share one backend load.
///
/// A request joins a running load only if no write committed since that load began (its stamp equals the
/// current write number): a load that began before a write may return pre-write data, and a request that
/// arrives after the write was acknowledged must not see it.
final class LoadCoalescer: Sendable {
    private struct Flight {
        let stamp: UInt64
        let future: EventLoopFuture<LoadedReply>
        let id: UInt64
    }

    private struct State {
        var flights: [ByteBuffer: Flight] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    enum Decision {
        /// Another request is loading this key; wait for its result.
        case join(EventLoopFuture<LoadedReply>)
        /// This request loads and completes `promise`, then calls `finish(key:id:)`.
        case lead(id: UInt64, promise: EventLoopPromise<LoadedReply>)
    }

    /// Joins a running load of `key` that started at `stamp`, or registers a new one led by the caller.
    func joinOrLead(key: ByteBuffer, stamp: UInt64, on eventLoop: any EventLoop) -> Decision {
        state.withLock { state in
            if let flight = state.flights[key], flight.stamp == stamp {
                return .join(flight.future)
            }
            state.nextID += 1
            let id = state.nextID
            let promise = eventLoop.makePromise(of: LoadedReply.self)
            state.flights[key] = Flight(stamp: stamp, future: promise.futureResult, id: id)
            return .lead(id: id, promise: promise)
        }
    }

    /// Forgets the flight `id` of `key` once its load completed (a newer flight for the key stays).
    func finish(key: ByteBuffer, id: UInt64) {
        state.withLock { state in
            if state.flights[key]?.id == id { state.flights[key] = nil }
        }
    }

    var inFlight: Int { state.withLock { $0.flights.count } }
}
