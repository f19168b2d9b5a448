import NIOCore
import Synchronization
import TierCachePolicy
import TierCacheResilience
import TierCacheStats

/// The answers of the three Kubernetes probes on the admin listener, each a status code and a small JSON body.
///
/// - live: the process serves; it fails only when restarting it is the cure (an event loop that does not run
///   its tasks any more).
/// - ready: send it traffic. The client port listens and is not draining, warming is done, and the database is
///   reachable — or, when it is not, some type has `max_stale` and can answer from what it holds.
/// - startup: the client port listens (the policy loaded and the database answered before that).
struct HealthProbes {
    let proxy: Proxy

    struct Answer {
        var status: HTTPStatus
        var body: String
    }

    enum HTTPStatus: Int {
        case ok = 200
        case unavailable = 503
    }

    /// How long an event loop may take to run a task before liveness fails.
    static let loopDeadline: TimeAmount = .seconds(2)

    func startup() -> Answer {
        switch proxy.phase.current {
        case .starting: answer(.unavailable, "starting", reasons: ["the client port is not listening yet"])
        case .serving, .draining: answer(.ok, "started", reasons: [])
        }
    }

    func ready() -> Answer {
        var reasons: [String] = []
        switch proxy.phase.current {
        case .starting: reasons.append("starting: the client port is not listening yet")
        case .draining: reasons.append("draining: shutting down, finishing the requests in flight")
        case .serving: break
        }
        let warming = proxy.warmer.snapshot.filter { $0.progress.phase == .listing || $0.progress.phase == .loading }
        if !warming.isEmpty {
            let names = warming.map { "\($0.name) \($0.progress.done)/\($0.progress.total)" }
            reasons.append("warming: " + names.joined(separator: ", "))
        }
        if let problem = databaseProblem, !proxy.policy.types.contains(where: { $0.policy.maxStale != nil }) {
            reasons.append("database unreachable and no type has max_stale to answer from: \(problem)")
        }
        return reasons.isEmpty ? answer(.ok, "ready", reasons: []) : answer(.unavailable, "not_ready", reasons: reasons)
    }

    /// Runs a task on every event loop; live when all ran within `loopDeadline`.
    func live(on eventLoop: any EventLoop) -> EventLoopFuture<Answer> {
        let loops = Array(proxy.eventLoopGroup.makeIterator())
        let ran = Mutex(Set<Int>())
        let tasks = loops.enumerated().map { index, loop in loop.submit { ran.withLock { _ = $0.insert(index) } } }
        let promise = eventLoop.makePromise(of: Answer.self)
        let answered = OnceFlag()
        let timer = eventLoop.scheduleTask(in: Self.loopDeadline) {
            guard answered.claim() else { return }
            let stuck = ran.withLock { ran in loops.indices.filter { !ran.contains($0) } }
            let milliseconds = Self.loopDeadline.nanoseconds / 1_000_000
            promise.succeed(
                answer(.unavailable, "stuck", reasons: ["event loop(s) \(stuck) ran no task within \(milliseconds) ms"])
            )
        }
        EventLoopFuture.whenAllComplete(tasks, on: eventLoop).whenComplete { _ in
            timer.cancel()
            if answered.claim() { promise.succeed(answer(.ok, "live", reasons: [])) }
        }
        return promise.futureResult
    }

    /// Why the database looks unreachable: its breaker is open, or the last health check failed.
    private var databaseProblem: String? {
        if proxy.database.breaker.phase == .open { return "the database circuit breaker is open" }
        return proxy.database.health.problem
    }

    private func answer(_ status: HTTPStatus, _ word: String, reasons: [String]) -> Answer {
        let list = reasons.map(JSONText.quoted).joined(separator: ", ")
        return Answer(status: status, body: "{\"status\": \(JSONText.quoted(word)), \"reasons\": [\(list)]}\n")
    }
}
