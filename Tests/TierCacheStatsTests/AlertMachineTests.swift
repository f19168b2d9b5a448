import Testing

@testable import TierCacheStats

@Suite("Alert state machine")
struct AlertMachineTests {
    private let second: UInt64 = 1_000_000_000

    @Test("fires once the condition held for `for`, resolves when it stops")
    func pendingThenFiring() {
        var alert = AlertMachine(forNanoseconds: 3 * second, cooldownNanoseconds: 600 * second)
        #expect(alert.observe(true, now: 10 * second) == nil)
        #expect(alert.phase == .pending(since: 10 * second))
        #expect(alert.observe(true, now: 12 * second) == nil)
        #expect(alert.observe(true, now: 13 * second) == .fired)
        #expect(alert.isFiring)
        #expect(alert.observe(true, now: 14 * second) == nil)
        #expect(alert.observe(false, now: 15 * second) == .resolved)
        #expect(alert.phase == .quiet && alert.fired == 1 && alert.resolved == 1)
    }

    @Test("a condition that stops while pending never fires")
    func blip() {
        var alert = AlertMachine(forNanoseconds: 3 * second, cooldownNanoseconds: 0)
        #expect(alert.observe(true, now: 0) == nil)
        #expect(alert.observe(false, now: 2 * second) == nil)
        #expect(alert.observe(true, now: 3 * second) == nil)
        #expect(alert.phase == .pending(since: 3 * second) && alert.fired == 0)
    }

    @Test("for 0s fires at once; within the cooldown a second firing and its resolution are not notified")
    func cooldown() {
        var alert = AlertMachine(forNanoseconds: 0, cooldownNanoseconds: 60 * second)
        #expect(alert.observe(true, now: 0) == .fired)
        #expect(alert.observe(false, now: 5 * second) == .resolved)
        #expect(alert.observe(true, now: 10 * second) == nil)
        #expect(alert.isFiring && alert.fired == 2)
        #expect(alert.observe(false, now: 20 * second) == nil)
        #expect(alert.observe(true, now: 61 * second) == .fired)
        #expect(alert.observe(false, now: 62 * second) == .resolved)
        #expect(alert.fired == 3 && alert.resolved == 3)
    }
}
