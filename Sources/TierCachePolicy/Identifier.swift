/// The names the policy format accepts for types and tables: plain SQL identifiers, so a table name can be
/// compared with what the database reports without quoting rules, and a type name is safe in logs and metrics.
enum Identifier {
    /// `[A-Za-z_][A-Za-z0-9_]*`.
    static func isValid(_ text: String) -> Bool {
        guard let first = text.utf8.first, isLetter(first) else { return false }
        return text.utf8.allSatisfy { isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// The wording error messages use for the rule above.
    static let rule = "letters, digits and _, not starting with a digit"

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || byte == UInt8(ascii: "_")
    }
}
