/// How long a cached entry stays fresh, kept in whole milliseconds because that is the finest unit the policy
/// format accepts and the unit Redis' `PX`/`PTTL` speak.
public struct TTL: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// The longest ttl a policy may ask for: ten years. Far beyond any useful cache lifetime, and small enough
    /// that a deadline of now plus the ttl in nanoseconds cannot overflow `Int64`.
    public static let maximum = TTL(milliseconds: 3650 * 86_400_000)

    public static func seconds(_ seconds: Int64) -> TTL { TTL(milliseconds: seconds * 1000) }
    public static func minutes(_ minutes: Int64) -> TTL { TTL(milliseconds: minutes * 60_000) }
    public static func hours(_ hours: Int64) -> TTL { TTL(milliseconds: hours * 3_600_000) }
    public static func days(_ days: Int64) -> TTL { TTL(milliseconds: days * 86_400_000) }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public var duration: Duration { .milliseconds(milliseconds) }

    public static func < (lhs: TTL, rhs: TTL) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// The largest unit that divides the ttl evenly, in the syntax the policy files accept: `30m`, `90s`,
    /// `1500ms`, `1d`. Reading it back with `init(parsing:)` gives the same ttl.
    public var description: String {
        guard milliseconds != 0 else { return "0s" }
        for (unit, size) in Self.units.reversed() where size >= 1000 && milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }

    /// The units the policy format accepts, smallest first, with their size in milliseconds.
    static let units: [(name: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]
}
