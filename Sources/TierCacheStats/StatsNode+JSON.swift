extension StatsNode {
    /// The tree as a JSON object (keys in the report's order), for the admin listener's `/stats` and the CLI's
    /// `--json`. Non-finite numbers, which JSON lacks, are `null`.
    public var json: String {
        var output = ""
        write(into: &output, indent: 0)
        return output
    }

    /// The same on one line, no spaces: for an event stream's `data:` line.
    public var compactJSON: String {
        var output = ""
        write(into: &output, indent: nil)
        return output
    }

    private func write(into output: inout String, indent: Int?) {
        switch self {
        case .integer(let value): output += String(value)
        case .double(let value): output += value.isFinite ? String(value) : "null"
        case .text(let value): output += JSONText.quoted(value)
        case .map(let pairs):
            guard !pairs.isEmpty else {
                output += "{}"
                return
            }
            guard let indent else {
                output += "{"
                for (index, (key, value)) in pairs.enumerated() {
                    if index > 0 { output += "," }
                    output += JSONText.quoted(key) + ":"
                    value.write(into: &output, indent: nil)
                }
                output += "}"
                return
            }
            let pad = String(repeating: "  ", count: indent + 1)
            output += "{\n"
            for (index, (key, value)) in pairs.enumerated() {
                output += pad + JSONText.quoted(key) + ": "
                value.write(into: &output, indent: indent + 1)
                output += index + 1 < pairs.count ? ",\n" : "\n"
            }
            output += String(repeating: "  ", count: indent) + "}"
        }
    }
}

/// JSON string literals.
public enum JSONText {
    /// `text` in double quotes, with what JSON requires escaped.
    public static func quoted(_ text: String) -> String {
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }
}
