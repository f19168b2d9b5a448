import Synchronization

/// The policy in force, shared by every part of the proxy that reads it. A reload replaces it at once
/// (`replace(with:record:)`); a request keeps the version it began with.
final class ActivePolicy: Sendable {
    /// Raised by every reload: connections keep the policy they use and look again only when it moved, so the
    /// request path takes no lock for it.
    let version = Atomic<UInt64>(0)
    let current: Mutex<(state: PolicyState, loaded: PolicyLoadRecord)>
    /// What reloads and failed reloads left behind, for `STATS` and `POLICY SHOW`.
    let history = Mutex(PolicyHistory())

    init(_ state: PolicyState, loaded: PolicyLoadRecord) {
        current = Mutex((state, loaded))
    }

    var state: PolicyState { current.withLock { $0.state } }

    /// Puts `state` in force, then tells the connections.
    func replace(with state: PolicyState, record: PolicyLoadRecord) {
        current.withLock { $0 = (state, record) }
        version.wrappingAdd(1, ordering: .releasing)
    }
}
