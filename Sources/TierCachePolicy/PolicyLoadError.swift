/// Everything wrong with a set of policy files, thrown at once so an operator fixes them in one pass.
public struct PolicyLoadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// In file order, then by line and column.
    public var errors: [PolicyError]

    public init(errors: [PolicyError]) {
        self.errors = errors
    }

    /// One error per line, each `file:line:column: message`.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
