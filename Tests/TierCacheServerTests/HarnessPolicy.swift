import NIOCore
import TierCachePolicy

@testable import TierCacheServer

/// The harness' policy (`ProxyTestHarness.policyYAML`) on its own, with no database: for value tests of what
/// keys route to.
struct HarnessPolicy {
    let state: PolicyState

    init() throws {
        let file = try PolicyLoader.parse(yaml: ProxyTestHarness.policyYAML, file: "test.yaml").get()
        state = try PolicyState(try PolicySet.merge([file]), exactIDs: [], registry: TypeRegistry())
    }

    /// A transaction's target for `key`, owning its bytes.
    func target(_ key: String) throws -> TransactionStep.Target {
        let buffer = ByteBuffer(string: key)
        let (type, id) = try require(state.route(buffer), "no type for \(key)")
        return TransactionStep.owned((type, id), key: buffer)
    }
}
