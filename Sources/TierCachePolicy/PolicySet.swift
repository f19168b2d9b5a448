/// The merged policy of all files: the model the server runs on.
///
/// Lookups here are linear: this is the control path (startup, reload, `policy check`). The server builds its
/// own byte-keyed tables for the request path.
public struct PolicySet: Sendable, Hashable {
    /// Sorted by name.
    public var types: [DataTypePolicy]
    public var defaultPolicy: DefaultPolicy
    /// The alerts of all files, in the order read.
    public var alerts: [AlertRule] = []
    /// The files the policy was read from, in the order they were read.
    public var files: [String]
    /// Identifies the files' contents (names and texts): 16 hex digits of a 64-bit FNV-1a hash. Equal digests,
    /// same policy text; a reload of an unchanged directory is recognised by it.
    public var digest: String = ""

    public init(types: [DataTypePolicy], defaultPolicy: DefaultPolicy = .noCache, files: [String] = []) {
        self.types = types.sorted { $0.name < $1.name }
        self.defaultPolicy = defaultPolicy
        self.files = files
    }

    public func type(named name: String) -> DataTypePolicy? {
        types.first { $0.name == name }
    }

    /// The types whose entries a write to `table` invalidates. Table names compare case-insensitively, as SQL
    /// identifiers do.
    public func types(readingTable table: String) -> [DataTypePolicy] {
        let table = table.lowercased()
        return types.filter { $0.tables.contains(table) }
    }
}
