import TierCacheSupport

/// PostgreSQL's dates and times as the text PostgreSQL itself shows (`DateStyle` ISO), from their binary form:
/// what SQLite holds for the same data is that text, so a row reads the same from either backend.
/// `timestamptz` is shown in UTC (`+00`), whatever the server's `TimeZone`.
enum PostgresTimeText {
    /// `date`: days since 2000-01-01. `2024-01-31`, `0044-03-15 BC`, `infinity`.
    static func date(days: Int32) -> String {
        if days == .max { return "infinity" }
        if days == .min { return "-infinity" }
        let (year, month, day) = civil(daysSince2000: Int64(days))
        return dateText(year: year, month: month, day: day, suffix: "")
    }

    /// `timestamp` (`utc` false) or `timestamptz` (`utc` true): microseconds since 2000-01-01 00:00:00.
    /// `2024-01-31 10:11:12.5`, `2024-01-31 10:11:12+00`.
    static func timestamp(microseconds: Int64, utc: Bool) -> String {
        if microseconds == .max { return "infinity" }
        if microseconds == .min { return "-infinity" }
        let perDay: Int64 = 86_400_000_000
        var days = microseconds / perDay
        var time = microseconds % perDay
        if time < 0 {
            time += perDay
            days -= 1
        }
        let (year, month, day) = civil(daysSince2000: days)
        let clock = timeText(microseconds: time) + (utc ? "+00" : "")
        return dateText(year: year, month: month, day: day, suffix: " " + clock)
    }

    /// `time`: microseconds since midnight. `10:11:12`, `10:11:12.000001`.
    static func time(microseconds: Int64) -> String { timeText(microseconds: microseconds) }

    private static func dateText(year: Int64, month: Int64, day: Int64, suffix: String) -> String {
        // There is no year 0: 1 BC is year 0 of the proleptic calendar, 2 BC is -1.
        let bc = year <= 0
        let shown = bc ? 1 - year : year
        return "\(padded(shown, 4))-\(padded(month, 2))-\(padded(day, 2))\(suffix)\(bc ? " BC" : "")"
    }

    private static func timeText(microseconds: Int64) -> String {
        let seconds = microseconds / 1_000_000
        let fraction = microseconds % 1_000_000
        var text = "\(padded(seconds / 3600, 2)):\(padded(seconds / 60 % 60, 2)):\(padded(seconds % 60, 2))"
        if fraction > 0 {
            var digits = padded(fraction, 6)
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }

    private static func padded(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// The proleptic Gregorian date `days` after 2000-01-01 (negative before it), PostgreSQL's epoch.
    private static func civil(daysSince2000 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let date = CivilDate(daysSince1970: days + 10_957)
        return (date.year, date.month, date.day)
    }
}
