/// A parsed users file (`--users FILE`): who may connect and what each may do.
public struct UsersFile: Sendable, Equatable {
    public var file: String
    public var users: [UserEntry]

    public init(file: String, users: [UserEntry] = []) {
        self.file = file
        self.users = users
    }

    /// Reads and parses `path`: every problem is reported, each at its `file:line:column`. The same size and
    /// regular-file rules as a policy file apply.
    public static func load(path: String) -> Result<UsersFile, PolicyLoadError> {
        let (sources, errors) = PolicyLoader.readSource(path, confinedTo: nil)
        guard errors.isEmpty, let source = sources.first else { return .failure(PolicyLoadError(errors: errors)) }
        return parse(yaml: source.text, file: path)
    }

    /// Parses a users file's text; `file` names it in error locations.
    public static func parse(yaml: String, file: String) -> Result<UsersFile, PolicyLoadError> {
        var parser = UsersFileParser(file: file)
        let users = parser.parse(yaml: yaml)
        guard parser.errors.isEmpty else { return .failure(PolicyLoadError(errors: parser.errors)) }
        return .success(UsersFile(file: file, users: users))
    }

    /// The digest a watcher compares to notice a change (the file's name and text, or what stops it being read).
    public static func currentDigest(path: String) -> String {
        PolicyLoader.currentDigest(path: path)
    }
}
