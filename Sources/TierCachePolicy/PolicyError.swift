/// One problem in the policy files, located at the YAML node that caused it.
///
/// The `message` is written for the operator who has to fix the file; the `code` is for programs (tests, the
/// `policy check` command) that need to tell problems apart without matching text.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case invalidYAML, unreadable, noPolicyFiles, unknownKey, missingKey, wrongType, invalidValue
            case duplicateType, duplicatePrefix, duplicateDefault, invalidStatement
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The text is not valid YAML (libyaml's scanner, parser or composer refused it, or a key repeats).
        public static let invalidYAML = Code(.invalidYAML)
        /// A file or directory does not exist or cannot be read, or a file is refused unread: it links outside the
        /// policy directory, is larger than `PolicyLoader.maximumFileSize`, or is not a regular file.
        public static let unreadable = Code(.unreadable)
        /// A policy directory holds no `*.yaml` or `*.yml` file.
        public static let noPolicyFiles = Code(.noPolicyFiles)
        /// A key the format does not know, usually a typo.
        public static let unknownKey = Code(.unknownKey)
        /// A required key is absent.
        public static let missingKey = Code(.missingKey)
        /// A value has the wrong shape: a list where one value belongs, a value where a list or mapping belongs.
        public static let wrongType = Code(.wrongType)
        /// A value has the right shape but not an allowed content (bad ttl, jitter, name, placeholder count).
        public static let invalidValue = Code(.invalidValue)
        /// Two files, or two places, define the same type.
        public static let duplicateType = Code(.duplicateType)
        /// Two types use the same key prefix, or prefixes that one key could match both of.
        public static let duplicatePrefix = Code(.duplicatePrefix)
        /// More than one file has a `default` section.
        public static let duplicateDefault = Code(.duplicateDefault)
        /// The database refused a statement. The loader never raises it; the server does, at `fieldLocations`.
        public static let invalidStatement = Code(.invalidStatement)

        public var description: String {
            switch base {
            case .invalidYAML: "invalidYAML"
            case .unreadable: "unreadable"
            case .noPolicyFiles: "noPolicyFiles"
            case .unknownKey: "unknownKey"
            case .missingKey: "missingKey"
            case .wrongType: "wrongType"
            case .invalidValue: "invalidValue"
            case .duplicateType: "duplicateType"
            case .duplicatePrefix: "duplicatePrefix"
            case .duplicateDefault: "duplicateDefault"
            case .invalidStatement: "invalidStatement"
            }
        }
    }

    public var code: Code
    public var location: SourceLocation
    public var message: String

    public init(_ code: Code, at location: SourceLocation, _ message: String) {
        self.code = code
        self.location = location
        self.message = message
    }

    /// `file:line:column: message`, the shape compilers use, so editors can link it.
    public var description: String { "\(location): \(message)" }
}
