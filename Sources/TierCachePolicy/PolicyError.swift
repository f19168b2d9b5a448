import TierCacheSupport

/// One problem in the policy files, located at the YAML node that caused it.
///
/// The `message` is written for the operator who has to fix the file; the `code` is for programs (tests, the
/// `policy check` command) that need to tell problems apart without matching text.
public struct PolicyError: CodedError, Hashable {
    public enum Code: String, ErrorCode {
        /// The text is not valid YAML (libyaml's scanner, parser or composer refused it, or a key repeats).
        case invalidYAML
        /// A file or directory does not exist or cannot be read, or a file is refused unread: it links outside the
        /// policy directory, is larger than `PolicyLoader.maximumFileSize`, or is not a regular file.
        case unreadable
        /// A policy directory holds no `*.yaml` or `*.yml` file.
        case noPolicyFiles
        /// A key the format does not know, usually a typo.
        case unknownKey
        /// A required key is absent.
        case missingKey
        /// A value has the wrong shape: a list where one value belongs, a value where a list or mapping belongs.
        case wrongType
        /// A value has the right shape but not an allowed content (bad ttl, jitter, name, placeholder count).
        case invalidValue
        /// Two files, or two places, define the same type.
        case duplicateType
        /// Two types use the same key prefix, or prefixes that one key could match both of.
        case duplicatePrefix
        /// More than one file has a `default` section.
        case duplicateDefault
        /// Two files, or two places, define the same alert.
        case duplicateAlert
        /// The database refused a statement. The loader never raises it; the server does, at `fieldLocations`.
        case invalidStatement
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
