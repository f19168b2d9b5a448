/// Parses sizes as operators write them: `268435456`, `256mb`, `256MB`, `1g`, `512k`.
enum ByteSize {
    static func parse(_ text: String) -> Int? {
        let lowered = text.lowercased().trimmingCharacters(in: " ")
        let units: [(String, Int)] = [
            ("gb", 1 << 30), ("g", 1 << 30), ("mb", 1 << 20), ("m", 1 << 20), ("kb", 1 << 10), ("k", 1 << 10),
            ("b", 1),
        ]
        for (suffix, multiplier) in units where lowered.hasSuffix(suffix) {
            let digits = lowered.dropLast(suffix.count)
            guard let value = Int(digits), value > 0 else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        guard let value = Int(lowered), value > 0 else { return nil }
        return value
    }
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var slice = Substring(self)
        while slice.first == character { slice = slice.dropFirst() }
        while slice.last == character { slice = slice.dropLast() }
        return String(slice)
    }
}
