import Testing

@testable import TierCacheCache

@Suite("Hot-key sketch")
struct HotKeySketchTests {
    private static func record(_ sketch: inout HotKeySketch, _ key: String, times: Int) {
        for _ in 0..<times { _ = Array(key.utf8).withUnsafeBytes { sketch.record($0) } }
    }

    private static func estimate(_ sketch: HotKeySketch, _ key: String) -> UInt32 {
        Array(key.utf8).withUnsafeBytes { sketch.estimate($0) }
    }

    @Test("estimates never undercount; the top list holds the most read keys in order, within its capacity")
    func topKeys() {
        var sketch = HotKeySketch(width: 256, depth: 4, capacity: 8)
        // A Zipf-like spread: key k read 2000/k times, 500 keys.
        for k in 1...500 { Self.record(&sketch, "key:\(k)", times: max(1, 2000 / k)) }
        for k in [1, 2, 10, 100, 500] { #expect(Self.estimate(sketch, "key:\(k)") >= UInt32(max(1, 2000 / k))) }
        let top = sketch.top(5).map { String(decoding: $0.key, as: UTF8.self) }
        #expect(top == ["key:1", "key:2", "key:3", "key:4", "key:5"])
        #expect(sketch.top(100).count == 8)
        #expect(Self.estimate(sketch, "never") <= 2000 * 2 / 256 * 4, "collisions stay small")
    }

    @Test("decay halves counts; keys that reach 0 leave the list, and a new hot key takes over")
    func decay() {
        var sketch = HotKeySketch(width: 1024, depth: 4, capacity: 2)
        Self.record(&sketch, "old", times: 64)
        Self.record(&sketch, "once", times: 1)
        sketch.decay()
        #expect(Self.estimate(sketch, "old") == 32)
        #expect(sketch.top(10).map(\.count) == [32], "'once' decayed to 0")
        for _ in 0..<6 { sketch.decay() }
        Self.record(&sketch, "new", times: 10)
        #expect(sketch.top(10).map { String(decoding: $0.key, as: UTF8.self) } == ["new"])
    }
}
