/// Finds the key an operator probably meant when they wrote one the format does not know.
enum KeySuggestion {
    /// The candidate closest to `key` by edit distance, ignoring case, if it is close enough to be a typo:
    /// at most 2 edits, and fewer edits than half the key's length so that short keys do not match anything.
    static func closest(to key: String, among candidates: [String]) -> String? {
        let typed = Array(key.lowercased())
        let limit = min(2, max(1, typed.count / 2))
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(typed, Array(candidate.lowercased()))
            if distance <= limit, distance < best?.distance ?? .max {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// Levenshtein distance: insertions, deletions and substitutions each count one.
    static func editDistance(_ lhs: [Character], _ rhs: [Character]) -> Int {
        guard !lhs.isEmpty else { return rhs.count }
        guard !rhs.isEmpty else { return lhs.count }
        var previous = Array(0...rhs.count)
        var current = [Int](repeating: 0, count: rhs.count + 1)
        for (i, left) in lhs.enumerated() {
            current[0] = i + 1
            for (j, right) in rhs.enumerated() {
                let substitution = previous[j] + (left == right ? 0 : 1)
                current[j + 1] = min(substitution, previous[j + 1] + 1, current[j] + 1)
            }
            swap(&previous, &current)
        }
        return previous[rhs.count]
    }
}
