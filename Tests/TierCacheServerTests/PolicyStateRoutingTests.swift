import NIOCore
import Testing
import TierCachePolicy

@testable import TierCacheServer

/// Key routing: a type's prefix followed by a colon; the rest is the id. (Policies refuse prefixes that overlap, so
/// at most one type matches.)
@Suite("PolicyState routing")
struct PolicyStateRoutingTests {
    let state: PolicyState

    init() throws {
        let yaml = """
            types:
              user:
                load: SELECT v FROM t WHERE id = ?
                tables: [t]
                ttl: 1m
              session:
                prefix: "shop:item"
                load: SELECT v FROM t WHERE id = ?
                tables: [t]
                ttl: 1m
              usr:
                load: SELECT v FROM t WHERE id = ?
                tables: [t]
                ttl: 1m
            """
        let file = try PolicyLoader.parse(yaml: yaml, file: "routing.yaml").get()
        state = try PolicyState(try PolicySet.merge([file]), exactIDs: [], registry: TypeRegistry())
    }

    private func route(_ key: String) -> (type: String, id: String)? {
        state.route(ByteBuffer(string: key)).map { ($0.type.name, String(buffer: $0.id)) }
    }

    @Test("a prefix may hold colons and so may an id; a key of no type has no route")
    func routes() {
        #expect(route("user:42")! == ("user", "42"))
        #expect(route("shop:item:abc")! == ("session", "abc"))
        #expect(route("shop:item:a:b")! == ("session", "a:b"))
        #expect(route("user:session:1")! == ("user", "session:1"))
        #expect(route("shop:1") == nil)
        #expect(route("shop:itemX:1") == nil)
        #expect(route("usr:7")! == ("usr", "7"))
        #expect(route("user:")! == ("user", ""))
        #expect(route("users:1") == nil)
        #expect(route("use:1") == nil)
        #expect(route("user") == nil)
        #expect(route(":user:1") == nil)
        #expect(route("") == nil)
    }

    @Test("a key that is a slice of a larger buffer routes on its own bytes")
    func slicedKey() throws {
        var buffer = ByteBuffer(string: "xxuser:9yy")
        buffer.moveReaderIndex(forwardBy: 2)
        let key = try #require(buffer.getSlice(at: buffer.readerIndex, length: 6))
        let routed = try #require(state.route(key))
        #expect(routed.type.name == "user")
        #expect(String(buffer: routed.id) == "9")
    }
}
