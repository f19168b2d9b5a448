/// What one policy file says, before files are merged and checked against each other.
public struct PolicyFile: Sendable, Hashable {
    /// The path as it appears in error messages.
    public var file: String
    /// The types that are valid on their own, in the order written.
    public var types: [DataTypePolicy]
    /// The file's `default` section, if it has a valid one.
    public var defaultPolicy: DefaultPolicy?
    /// The alerts that are valid on their own, in the order written.
    public var alerts: [AlertRule] = []

    /// Every type name the file declares, valid or not, so merging also reports a broken type that another
    /// file defines again.
    var declaredTypes: [Declaration]
    /// Every alert name the file declares, valid or not.
    var declaredAlerts: [Declaration] = []
    /// Where the file's `default` key is, valid or not.
    var defaultLocation: SourceLocation?

    public init(file: String, types: [DataTypePolicy] = [], defaultPolicy: DefaultPolicy? = nil) {
        self.file = file
        self.types = types
        self.defaultPolicy = defaultPolicy
        self.declaredTypes = types.map { Declaration(name: $0.name, location: $0.location) }
        self.defaultLocation = defaultPolicy?.location
    }

    /// A type name and where it is written.
    struct Declaration: Sendable, Hashable {
        var name: String
        var location: SourceLocation
    }
}
