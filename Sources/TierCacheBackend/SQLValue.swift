/// One cell of a result set, or one bound parameter, in the backend's own types.
///
/// Text and blobs stay bytes: the proxy never needs them as Swift `String`s, and keeping them as bytes
/// avoids a UTF-8 validation and a copy per cell on the way to the client.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text([UInt8])
    case blob([UInt8])
}

extension SQLValue {
    /// A text value from a Swift string (tests, demo data, statement parameters typed by hand).
    public static func text(_ string: String) -> SQLValue { .text(Array(string.utf8)) }
}
