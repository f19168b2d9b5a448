/// Reads policy files and merges them into the `PolicySet` the server runs on.
public enum PolicyLoader {
    /// Where the server looks when no path is given.
    public static let defaultDirectory = "ttl-policies"

    /// Reads a policy file, or every `*.yaml` and `*.yml` file of a directory (sorted by name, not recursing,
    /// skipping hidden files), and merges them.
    ///
    /// - Parameter path: A file or a directory. Error locations name files as `path/name`.
    /// - Throws: Every problem in every file, in file order, then by line and column.
    public static func load(path: String) throws(PolicyLoadError) -> PolicySet {
        let (sources, readErrors) = sources(at: path)
        var errors = readErrors
        var files: [PolicyFile] = []
        for source in sources {
            var parser = PolicyFileParser(file: source.file)
            files.append(parser.parse(yaml: source.text))
            errors += parser.errors
        }
        var (set, mergeErrors) = PolicySet.merging(files)
        errors += mergeErrors
        guard errors.isEmpty else {
            throw PolicyLoadError(errors: sorted(errors, fileOrder: [path] + sources.map(\.file)))
        }
        set.digest = digest(of: sources)
        return set
    }

    /// What `PolicySet.digest` would be for the files at `path` as they are now, without parsing them: lets a
    /// watcher tell whether anything changed since it last looked.
    ///
    /// Problems reading the files count as well (there is no text to hash for a file refused unread, such as a
    /// link out of the directory), so a watcher reloads, and reports them, when they appear or change.
    public static func currentDigest(path: String) -> String {
        let (sources, errors) = sources(at: path)
        return digest(of: sources, problems: errors)
    }

    /// FNV-1a (64 bits) over each file's name and text, then each problem, each followed by a 0 byte so parts
    /// can't run together. Without problems, the digest of the files alone.
    static func digest(of sources: [Source], problems: [PolicyError] = []) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ text: String) {
            for byte in text.utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
            hash = (hash ^ 0) &* 0x0000_0100_0000_01b3
        }
        for source in sources {
            add(source.file)
            add(source.text)
        }
        for problem in problems {
            add(problem.description)
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Parses one file's text without merging it with others.
    ///
    /// - Parameters:
    ///   - yaml: The file's contents.
    ///   - file: The name error locations use.
    /// - Returns: The file's types and default section, or every problem found in it, by line and column.
    public static func parse(yaml: String, file: String) -> Result<PolicyFile, PolicyLoadError> {
        var parser = PolicyFileParser(file: file)
        let policyFile = parser.parse(yaml: yaml)
        guard parser.errors.isEmpty else {
            return .failure(PolicyLoadError(errors: sorted(parser.errors, fileOrder: [file])))
        }
        return .success(policyFile)
    }

    /// Orders errors as an operator reads them: file by file in reading order, top to bottom; errors at the
    /// same place keep the order they were found in.
    static func sorted(_ errors: [PolicyError], fileOrder: [String]) -> [PolicyError] {
        var rank: [String: Int] = [:]
        for (index, file) in fileOrder.enumerated() where rank[file] == nil {
            rank[file] = index
        }
        return errors.enumerated().sorted { lhs, rhs in
            let left = lhs.element.location
            let right = rhs.element.location
            let leftKey = (rank[left.file] ?? fileOrder.count, left.line, left.column, lhs.offset)
            let rightKey = (rank[right.file] ?? fileOrder.count, right.line, right.column, rhs.offset)
            return leftKey < rightKey
        }.map(\.element)
    }
}
