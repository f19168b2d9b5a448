/// One key-value entry of a RESP3 map; a struct rather than a tuple so that ``RESPValue`` can be `Hashable`.
public struct RESPPair: Sendable, Hashable {
    /// The key, usually a string but any RESP value in RESP3.
    public var key: RESPValue
    /// The value.
    public var value: RESPValue

    /// Creates a pair.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value.
    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}
