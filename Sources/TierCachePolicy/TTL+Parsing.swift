extension TTL {
    /// Parses a ttl as operators write it: whole seconds (`45`) or a whole number with a unit (`1500ms`, `30s`,
    /// `10m`, `2h`, `1d`).
    ///
    /// Fractions, spaces, signs and YAML's other integer spellings (`0x10`, `1_000`) are refused, so that a
    /// ttl means the same thing to every reader of the file.
    public init(parsing text: some StringProtocol) throws(ParseError) {
        var digits = Substring(text)
        var negative = false
        if digits.first == "-" {
            negative = true
            digits = digits.dropFirst()
        }
        let unitStart = digits.firstIndex { !("0"..."9").contains($0) } ?? digits.endIndex
        let unitName = digits[unitStart...]
        digits = digits[..<unitStart]
        guard !digits.isEmpty,
            let unit = unitName.isEmpty ? 1000 : Self.units.first(where: { $0.name == unitName })?.milliseconds
        else {
            throw .malformed
        }
        var value: Int64 = 0
        for digit in digits.utf8 {
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            let (added, overflowAdd) = shifted.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            guard !overflowShift, !overflowAdd else { throw negative ? .notPositive : .tooLarge }
            value = added
        }
        if negative || value == 0 { throw .notPositive }
        let (total, overflow) = value.multipliedReportingOverflow(by: unit)
        guard !overflow, total <= TTL.maximum.milliseconds else { throw .tooLarge }
        self.init(milliseconds: total)
    }
}
