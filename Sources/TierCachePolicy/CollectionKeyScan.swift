import CYaml

/// Finds the first mapping key that is not a plain scalar (a sequence, a mapping or an alias, as YAML's `?`
/// complex keys and flow collections allow), by a pass over libyaml's events before Yams composes the tree.
///
/// Why: when a mapping repeats a key, Yams sorts the repeated keys to report them, and its ordering of collection
/// nodes compares nested keys both ways at every level, which takes time exponential in their depth: a 2.8 kB
/// policy file of nested `?` keys (found by `bench/fuzz.py`) ran for over 20 minutes without finishing. Policy
/// and users files need names as keys, never collections, so such a key is refused before Yams sees it.
/// Also finds the first collection nested deeper than `maxYAMLDepth`: Yams composes, hashes and compares nodes
/// recursively, so a deep enough file would overflow the stack (the fuzzer found such an overflow in Yams' hashing
/// under the address sanitizer on a file 934 levels deep).
/// Returns nil when every key is a scalar and no collection is too deep, or when libyaml finds the text malformed
/// (Yams then reports why).
func firstCollectionKey(in yaml: String) -> (line: Int, column: Int, tooDeep: Bool)? {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else { return nil }
    defer { yaml_parser_delete(&parser) }
    // As Yams' `Parser` does: with the encoding named, libyaml keeps a leading byte-order mark as a character of
    // the first line instead of detecting and dropping it, which shifts that line's columns. Left to detect, the
    // scan saw a different document from the one Yams composes (the fuzzer's BOM-led input: an error at line 16
    // here, 934 nested levels there).
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
    let bytes = Array(yaml.utf8)
    return bytes.withUnsafeBufferPointer { text -> (line: Int, column: Int, tooDeep: Bool)? in
        guard let base = text.baseAddress else { return nil }
        yaml_parser_set_input_string(&parser, base, text.count)
        /// For each open collection: whether it is a mapping whose next node is a key.
        var expectingKey: [Bool?] = []
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            let type = event.type
            switch type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT, YAML_ALIAS_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                if let last = expectingKey.last, let isKey = last {
                    if isKey && type != YAML_SCALAR_EVENT {
                        return (Int(event.start_mark.line) + 1, Int(event.start_mark.column) + 1, false)
                    }
                    expectingKey[expectingKey.count - 1] = !isKey
                }
                if type != YAML_SCALAR_EVENT, type != YAML_ALIAS_EVENT, expectingKey.count >= maxYAMLDepth {
                    return (Int(event.start_mark.line) + 1, Int(event.start_mark.column) + 1, true)
                }
                if type == YAML_SEQUENCE_START_EVENT { expectingKey.append(nil) }
                if type == YAML_MAPPING_START_EVENT { expectingKey.append(true) }
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                _ = expectingKey.popLast()
            default:
                break
            }
        }
    }
}

/// How deeply collections may nest in a policy or users file; theirs nest four levels at most (types' tables).
let maxYAMLDepth = 32

extension PolicyFileParser {
    /// The error for a key that is a collection or an alias (see `firstCollectionKey`), if the text has one.
    func collectionKeyError(in yaml: String) -> PolicyError? {
        guard let (line, column, tooDeep) = firstCollectionKey(in: yaml) else { return nil }
        return PolicyError(
            .invalidYAML, at: SourceLocation(file: file, line: line, column: column),
            tooDeep
                ? "invalid YAML: collections nested more than \(maxYAMLDepth) levels deep"
                : "invalid YAML: a mapping key must be a name, not a sequence, a mapping or an alias (YAML's `?` "
                    + "keys and [...] or {...} as keys are not accepted here)")
    }
}
