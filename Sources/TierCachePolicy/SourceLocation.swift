/// A position in a policy file, printed as `file:line:column` so terminals and editors can jump to it.
///
/// Lines and columns are 1-based; columns count Unicode scalars, as libyaml does. Problems with a file as a
/// whole (unreadable, empty) point at line 1, column 1.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// The start of a file: where errors about the whole file point.
    public static func start(of file: String) -> SourceLocation {
        SourceLocation(file: file, line: 1, column: 1)
    }

    public var description: String { "\(file):\(line):\(column)" }
}
