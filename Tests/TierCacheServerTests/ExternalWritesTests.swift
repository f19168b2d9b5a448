import Testing
import TierCacheBackend
import TierCacheStats

@testable import TierCacheServer

@Suite("Other programs' writes: what each event of the change feed makes the proxy do")
struct ExternalWritesTests {
    @Test("changes invalidate only while listening; a loss after listening flushes once and makes L1 lives short")
    func listeningAndLosing() {
        let external = ExternalWrites()
        #expect(!external.isDeaf)
        #expect(external.handle(.changed(tables: ["t"]), now: 1) == .none)  // not listening yet
        #expect(external.handle(.listening(tables: ["t", "u"]), now: 2) == .none)
        #expect(external.link == .listening(sinceMicroseconds: 2, tables: ["t", "u"]))
        #expect(external.handle(.changed(tables: ["t"]), now: 3) == .invalidate(["t"]))
        #expect(external.changesHeard.current == 1)
        #expect(external.handle(.lost(reason: "closed"), now: 4) == .flush)
        #expect(external.isDeaf)
        #expect(external.losses.current == 1)
        // Still down: no second flush, the first moment kept, the latest reason shown.
        #expect(external.handle(.lost(reason: "refused"), now: 5) == .none)
        #expect(external.link == .down(sinceMicroseconds: 4, reason: "refused"))
        #expect(external.handle(.changed(tables: ["t"]), now: 6) == .none)
        // Back: what was loaded while deaf is flushed.
        #expect(external.handle(.listening(tables: ["t"]), now: 7) == .flush)
        #expect(!external.isDeaf)
        #expect(external.losses.current == 1)
    }

    @Test("without triggers nothing changes: no flush, no short lives, even when the connection fails")
    func notInstalled() {
        let external = ExternalWrites()
        #expect(external.handle(.notInstalled, now: 1) == .none)
        #expect(external.handle(.lost(reason: "closed"), now: 2) == .none)
        #expect(!external.isDeaf)
        #expect(external.link == .notInstalled(sinceMicroseconds: 1))
        // Installed later: heard from then on.
        #expect(external.handle(.listening(tables: ["t"]), now: 3) == .none)
        #expect(external.handle(.changed(tables: ["t"]), now: 4) == .invalidate(["t"]))
    }

    @Test("a feed that never connected counts as deaf: its triggers may exist")
    func neverConnected() {
        let external = ExternalWrites()
        #expect(external.handle(.lost(reason: "refused"), now: 1) == .none)
        #expect(external.isDeaf)
        #expect(external.losses.current == 0)
    }
}
