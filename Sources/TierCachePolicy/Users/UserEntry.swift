/// One user of a users file, as written: who it is, how it proves it, and what it may do.
public struct UserEntry: Sendable, Equatable {
    /// The data types a user may read and write: every type (`'*'`), or the named ones.
    public enum TypeScope: Sendable, Equatable {
        case all
        case only(Set<String>)
    }

    public var name: String
    /// SHA-256 digests of the passwords the user may give (32 bytes each); several, so a password can be rotated
    /// without a moment where neither works. Empty with `noPassword`.
    public var passwordHashes: [[UInt8]]
    /// `nopass: true`: any password is accepted, and for `default`, clients need not AUTH at all (as in Redis).
    public var noPassword: Bool
    /// `enabled: false` keeps the user in the file but refuses its AUTH.
    public var enabled: Bool
    public var categories: Set<CommandCategory>
    public var types: TypeScope
    /// Where the user's name is written.
    public var location: SourceLocation

    public init(
        name: String, passwordHashes: [[UInt8]], noPassword: Bool = false, enabled: Bool = true,
        categories: Set<CommandCategory>, types: TypeScope, location: SourceLocation
    ) {
        self.name = name
        self.passwordHashes = passwordHashes
        self.noPassword = noPassword
        self.enabled = enabled
        self.categories = categories
        self.types = types
        self.location = location
    }

    /// The keys of a user's mapping.
    public enum Field: String, CaseIterable, Sendable {
        case passwordSHA256 = "password_sha256"
        case nopass
        case enabled
        case commands
        case types
    }
}
