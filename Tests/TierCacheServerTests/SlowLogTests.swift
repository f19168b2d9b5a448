import Testing
import TierCacheBackend

@testable import TierCacheServer

@Suite("Slow log")
struct SlowLogTests {
    private func record(_ log: SlowLog, _ sql: String, microseconds: UInt64, parameters: [SQLValue] = []) {
        log.record(
            operation: "LOAD", type: "item", sql: sql, parameters: parameters, nanoseconds: microseconds * 1000,
            client: nil, unixMicroseconds: 1_800_000_000_000_000)
    }

    @Test("keeps statements at or over the threshold, newest first, at most its length")
    func ring() {
        let log = SlowLog(threshold: .milliseconds(1), maxLength: 3)
        record(log, "fast", microseconds: 999)
        for index in 1...5 { record(log, "slow \(index)", microseconds: 1000 * UInt64(index)) }
        #expect(log.count == 3)
        #expect(log.newest(nil).map { $0.arguments[2] } == ["slow 5", "slow 4", "slow 3"])
        #expect(log.newest(nil).map(\.id) == [4, 3, 2])
        #expect(log.newest(2).map(\.durationMicroseconds) == [5000, 4000])
        #expect(log.newest(nil).first?.unixSeconds == 1_800_000_000)
        log.reset()
        #expect(log.count == 0 && log.newest(nil).isEmpty)
        record(log, "after reset", microseconds: 2000)
        #expect(log.newest(nil).map(\.id) == [5])
    }

    @Test("no threshold: nothing; zero length: nothing")
    func off() {
        let off = SlowLog(threshold: nil, maxLength: 10)
        record(off, "slow", microseconds: 1_000_000)
        #expect(off.count == 0 && !off.isSlow(.max))
        let empty = SlowLog(threshold: .zero, maxLength: 0)
        record(empty, "slow", microseconds: 1)
        #expect(empty.count == 0)
    }

    @Test("arguments as Redis truncates them: 128 bytes each, 32 in all")
    func truncation() {
        let log = SlowLog(threshold: .zero, maxLength: 1)
        let parameters = (0..<40).map { SQLValue.text(Array("p\($0)".utf8)) }
        record(log, String(repeating: "s", count: 130), microseconds: 1, parameters: parameters)
        let arguments = log.newest(nil)[0].arguments
        #expect(arguments.count == 32)
        #expect(arguments[2] == String(repeating: "s", count: 128) + "... (2 more bytes)")
        #expect(arguments[31] == "... (12 more arguments)")
        record(log, "x", microseconds: 1, parameters: [.blob([0xff, 0x01]), .integer(-3), .null])
        #expect(log.newest(nil)[0].arguments.suffix(3) == ["x'ff01'", "-3", "NULL"])
    }
}
