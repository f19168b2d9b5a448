/// Times as RFC 3339 text in UTC (`2026-12-04T13:40:05.123Z`), without Foundation.
public enum RFC3339 {
    public static func string(unixMicroseconds: UInt64) -> String {
        let seconds = Int64(unixMicroseconds / 1_000_000)
        let milliseconds = Int(unixMicroseconds / 1000 % 1000)
        let (days, secondOfDay) = (seconds / 86_400, Int(seconds % 86_400))
        let date = CivilDate(daysSince1970: days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction =
            milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        let time = "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))"
        return "\(date.year)-\(two(Int(date.month)))-\(two(Int(date.day)))T\(time).\(fraction)Z"
    }
}
