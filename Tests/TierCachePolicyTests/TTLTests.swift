import Testing
import TierCachePolicy

@Suite struct TTLTests {
    @Test(
        arguments: [
            ("30s", 30_000), ("10m", 600_000), ("2h", 7_200_000), ("1d", 86_400_000), ("1500ms", 1500),
            ("45", 45_000), ("1ms", 1), ("3650d", 315_360_000_000),
        ] as [(String, Int64)])
    func parsesValidDurations(text: String, milliseconds: Int64) throws {
        #expect(try TTL(parsing: text) == TTL(milliseconds: milliseconds))
    }

    @Test(
        arguments: [
            ("0s", .notPositive), ("0", .notPositive), ("0ms", .notPositive), ("-5", .notPositive),
            ("-5m", .notPositive), ("30x", .malformed), ("", .malformed), ("s", .malformed), ("1.5h", .malformed),
            ("30 s", .malformed), (" 30s", .malformed), ("30S", .malformed), ("+5", .malformed), ("0x10", .malformed),
            ("1_000", .malformed), ("3651d", .tooLarge), ("9223372036854775807ms", .tooLarge),
            ("99999999999999999999", .tooLarge), ("9223372036854775807d", .tooLarge),
        ] as [(String, TTL.ParseError)])
    func rejectsInvalidDurations(text: String, expected: TTL.ParseError) {
        #expect(throws: expected) { try TTL(parsing: text) }
    }

    @Test(
        arguments: [
            (1_800_000, "30m"), (5_400_000, "90m"), (90_000, "90s"), (1500, "1500ms"), (86_400_000, "1d"),
            (3_600_000, "1h"), (0, "0s"),
        ] as [(Int64, String)])
    func describesWithTheLargestEvenUnit(milliseconds: Int64, description: String) throws {
        let ttl = TTL(milliseconds: milliseconds)
        #expect(ttl.description == description)
        if milliseconds > 0 {
            #expect(try TTL(parsing: ttl.description) == ttl)
        }
    }

    @Test func convertsToSecondsAndDuration() {
        #expect(TTL(milliseconds: 1500).seconds == 1.5)
        #expect(TTL.minutes(2).duration == .seconds(120))
        #expect(TTL.days(1) == .hours(24))
        #expect(TTL.seconds(59) < .minutes(1))
    }
}
