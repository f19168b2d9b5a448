/// What an error message may show of a policy file's text.
///
/// Messages travel far (`POLICY RELOAD` replies, `STATS`, `POLICY SHOW`, the log), and the file may not be a policy
/// at all: a secret copied or linked into the directory. So a message names the offending token of our format, cut
/// short, and never the rest of the file.
enum Excerpt {
    /// Longest part of a value a message shows; enough to recognise a typo.
    static let maximumLength = 32

    /// `'text'`, cut to its first line and to `maximumLength` characters, with `…` where it was cut.
    static func quoted(_ text: String) -> String {
        let firstLine = text.prefix { !$0.isNewline }
        let shown = firstLine.prefix(maximumLength)
        return shown.endIndex == text.endIndex ? "'\(shown)'" : "'\(shown)…'"
    }

    /// `quoted(key)` when `key` looks like a key of this format (letters, digits, `_`, `-`, `.`), else `nil`.
    ///
    /// A line of another file often reads as a key (`root:$y$j9T$…:19000:0:99999:7:::` is a mapping key up to its
    /// last colon); its first characters already hold the secret, so such a key is not shown at all.
    static func quotedKey(_ key: String) -> String? {
        guard !key.isEmpty, key.unicodeScalars.allSatisfy(isNameCharacter) else { return nil }
        return quoted(key)
    }

    private static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
            || scalar == "_" || scalar == "-" || scalar == "."
    }
}
