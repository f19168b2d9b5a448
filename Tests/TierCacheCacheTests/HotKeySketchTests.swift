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
        // Wide enough that collisions (at most 2 × total / width per estimate, ~7 here) can't reorder the top.
        var sketch = HotKeySketch(width: 4096, depth: 4, capacity: 8)
        // A Zipf-like spread: key k read 2000/k times, 500 keys.
        for k in 1...500 { Self.record(&sketch, "key:\(k)", times: max(1, 2000 / k)) }
        for k in [1, 2, 10, 100, 500] { #expect(Self.estimate(sketch, "key:\(k)") >= UInt32(max(1, 2000 / k))) }
        let top = sketch.top(5).map { String(decoding: $0.key, as: UTF8.self) }
        #expect(top == ["key:1", "key:2", "key:3", "key:4", "key:5"])
        #expect(sketch.top(100).count == 8)
        let total = (1...500).reduce(0) { $0 + max(1, 2000 / $1) }
        #expect(Self.estimate(sketch, "never") <= UInt32(2 * total / 4096), "collisions stay small")
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
