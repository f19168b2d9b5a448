import Yams

extension PolicyFileParser {
    /// Reports Yams' errors in the same `file:line:column: message` shape as every other problem.
    func yamlError(_ error: any Error, in yaml: String) -> PolicyError {
        guard let error = error as? YamlError else {
            return PolicyError(.invalidYAML, at: .start(of: file), "invalid YAML: \(error)")
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return PolicyError(.invalidYAML, at: location(of: mark), "invalid YAML: \(problem)\(detail)")
        case .reader(let problem, let offset, _, _):
            let position = offset.map { location(ofCharacterOffset: $0, in: yaml) } ?? .start(of: file)
            return PolicyError(.invalidYAML, at: position, "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Keys only as `Excerpt.quotedKey` shows them: a repeated line of another file would echo it whole.
            let quoted = duplicates.compactMap(Excerpt.quotedKey)
            let keys = quoted.count == duplicates.count ? " " + quoted.joined(separator: ", ") : ""
            let noun = duplicates.count == 1 ? "key" : "keys"
            return PolicyError(
                .invalidYAML, at: location(of: context.mark),
                "invalid YAML: duplicate \(noun)\(keys) in one mapping (a key may appear only once; "
                    + "this one is written again further down)")
        default:
            return PolicyError(.invalidYAML, at: .start(of: file), "invalid YAML: \(error)")
        }
    }

    private func location(of mark: Mark) -> SourceLocation {
        SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    /// Yams reports reader errors as a character offset; lines and columns are counted as libyaml does, columns
    /// in Unicode scalars.
    private func location(ofCharacterOffset offset: Int, in yaml: String) -> SourceLocation {
        var line = 1
        var column = 1
        for character in yaml.prefix(offset) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return SourceLocation(file: file, line: line, column: column)
    }
}
