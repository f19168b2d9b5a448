import TierCacheSupport
import Yams

extension PolicyFileParser {
    /// One key of a settings mapping, with what a message about its value needs.
    struct Entry {
        /// `type 'name'` or `default`, the start of every message about this entry.
        var context: String
        var key: String
        var keyLocation: SourceLocation
        var value: Node
        var valueLocation: SourceLocation
    }

    static let ttlExpectation = "seconds or a number with unit ms, s, m, h, d, e.g. 30s, 10m"
    static let jitterExpectation = "a percentage from 0 to 100, e.g. 10%"
    static let boolExpectation = "true or false"
    static let tablesExpectation = "a list of table names, e.g. [user_sessions]"

    /// YAML 1.1 spellings, which Yams also resolves as booleans; quoting does not change the meaning here.
    private static let trueWords: Set<String> = ["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"]
    private static let falseWords: Set<String> = ["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"]

    /// The text of a single value, or `nil` after reporting an empty value, a list or a mapping.
    mutating func readScalar(_ entry: Entry, expected: String) -> String? {
        if isNull(entry.value) {
            report(
                .wrongType, at: entry.keyLocation,
                "\(entry.context): key '\(entry.key)' has no value (expected \(expected))")
            return nil
        }
        guard case .scalar(let scalar) = entry.value else {
            report(
                .wrongType, at: entry.valueLocation,
                "\(entry.context): invalid \(entry.key): found \(describe(entry.value)) (expected \(expected))")
            return nil
        }
        return scalar.string
    }

    mutating func readBool(_ entry: Entry) -> Bool? {
        guard let text = readScalar(entry, expected: Self.boolExpectation) else { return nil }
        if Self.trueWords.contains(text) { return true }
        if Self.falseWords.contains(text) { return false }
        reportInvalid(entry, text, "expected \(Self.boolExpectation)")
        return nil
    }

    mutating func readTTL(_ entry: Entry) -> TTL? {
        guard let text = readScalar(entry, expected: Self.ttlExpectation) else { return nil }
        do {
            return try TTL(parsing: text)
        } catch {
            switch error {
            case .malformed: reportInvalid(entry, text, "expected \(Self.ttlExpectation)")
            case .notPositive: reportInvalid(entry, text, "must be greater than zero")
            case .tooLarge: reportInvalid(entry, text, "must be at most \(TTL.maximum)")
            }
            return nil
        }
    }

    /// `10%`, `10`, `2.5%` or `2.5`: a percent either way, so `0.1` is a tenth of a percent, not 10%.
    mutating func readJitter(_ entry: Entry) -> Double? {
        guard let text = readScalar(entry, expected: Self.jitterExpectation) else { return nil }
        let number = text.hasSuffix("%") ? text.dropLast() : Substring(text)
        guard isPlainDecimal(number), let percent = Double(number), (0...100).contains(percent) else {
            reportInvalid(entry, text, "expected \(Self.jitterExpectation)")
            return nil
        }
        return percent
    }

    /// A positive number of loads per second, e.g. `100` or `2.5`.
    mutating func readRate(_ entry: Entry) -> Double? {
        let expected = "loads per second, a number above 0, e.g. 100"
        guard let text = readScalar(entry, expected: expected) else { return nil }
        guard isPlainDecimal(Substring(text)), let rate = Double(text), rate > 0, rate <= 1_000_000 else {
            reportInvalid(entry, text, "expected \(expected)")
            return nil
        }
        return rate
    }

    /// A fraction of a TTL strictly between 0 and 1, e.g. `0.8`.
    mutating func readFraction(_ entry: Entry) -> Double? {
        let expected = "a fraction of the TTL between 0 and 1, e.g. 0.8"
        guard let text = readScalar(entry, expected: expected) else { return nil }
        guard isPlainDecimal(Substring(text)), let fraction = Double(text), fraction > 0, fraction < 1 else {
            reportInvalid(entry, text, "expected \(expected)")
            return nil
        }
        return fraction
    }

    /// A prefix must survive being put in front of `":" + id` on the wire and found again.
    mutating func readPrefix(_ entry: Entry) -> String? {
        guard let text = readScalar(entry, expected: "a key prefix such as sess") else { return nil }
        let problem: String? =
            if text.isEmpty {
                "must not be empty"
            } else if text.unicodeScalars.contains(where: Self.isBlankOrControl) {
                "must not contain whitespace or control characters"
            } else if text.hasSuffix(":") {
                "must not end with ':'; TierCache puts ':' between prefix and id"
            } else {
                nil
            }
        if let problem {
            reportInvalid(entry, text, problem)
            return nil
        }
        return text
    }

    /// A statement with exactly the `?` placeholders the proxy binds, trimmed of the blank lines block scalars
    /// (`|`, `>`) leave around it.
    mutating func readStatement(_ entry: Entry, placeholders expected: Int, meaning: String) -> String? {
        let plural = expected == 1 ? "" : "s"
        let expectation = "an SQL statement with \(expected) '?' placeholder\(plural): \(meaning)"
        guard let text = readScalar(entry, expected: expectation) else { return nil }
        let statement = trimmed(text)
        guard !statement.isEmpty else {
            report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): invalid \(entry.key): empty statement (expected \(expectation))")
            return nil
        }
        let found = SQLPlaceholders.count(in: statement)
        guard found == expected else {
            report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): \(entry.key) has \(found) '?' placeholder\(found == 1 ? "" : "s"), "
                    + "expected \(expected) (\(meaning))")
            return nil
        }
        return statement
    }

    /// Lower-cased, because SQL table names are case-insensitive and the database reports them lower-cased.
    mutating func readTables(_ entry: Entry) -> [String]? {
        if isNull(entry.value) {
            report(
                .wrongType, at: entry.keyLocation,
                "\(entry.context): key '\(entry.key)' has no value (expected \(Self.tablesExpectation))")
            return nil
        }
        guard case .sequence(let sequence) = entry.value else {
            report(
                .wrongType, at: entry.valueLocation,
                "\(entry.context): invalid tables: found \(describe(entry.value)) "
                    + "(expected \(Self.tablesExpectation))")
            return nil
        }
        guard !sequence.isEmpty else {
            report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): tables must list at least one table, e.g. [user_sessions]")
            return nil
        }
        var tables: [String] = []
        var valid = true
        for element in sequence {
            let elementLocation = location(of: element)
            guard case .scalar(let scalar) = element, !isNull(element) else {
                report(
                    .wrongType, at: elementLocation,
                    "\(entry.context): invalid table name: found \(describe(element)) "
                        + "(expected \(Identifier.rule))")
                valid = false
                continue
            }
            guard Identifier.isValid(scalar.string) else {
                report(
                    .invalidValue, at: elementLocation,
                    "\(entry.context): invalid table name \(Excerpt.quoted(scalar.string)) "
                        + "(expected \(Identifier.rule))")
                valid = false
                continue
            }
            let table = scalar.string.lowercased()
            guard !tables.contains(table) else {
                report(
                    .invalidValue, at: elementLocation,
                    "\(entry.context): table \(Excerpt.quoted(scalar.string)) is listed twice")
                valid = false
                continue
            }
            tables.append(table)
        }
        return valid ? tables : nil
    }

    /// `<context>: invalid <key> '<text>' (<hint>)`, at the value, the text cut to an excerpt.
    private mutating func reportInvalid(_ entry: Entry, _ text: String, _ hint: String) {
        report(
            .invalidValue, at: entry.valueLocation,
            "\(entry.context): invalid \(entry.key) \(Excerpt.quoted(text)) (\(hint))")
    }

    private static func isBlankOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
    }

    /// Digits with an optional fraction: no sign, exponent, `inf` or `nan`, which `Double.init` would accept.
    func isPlainDecimal(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        return !text.isEmpty && parts.count <= 2
            && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { ("0"..."9").contains($0) } }
    }

    private func trimmed(_ text: String) -> String {
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text.lastIndex { !$0.isWhitespace }.map { text.index(after: $0) } ?? start
        return String(text[start..<end])
    }
}
