import NIOCore
import TierCacheCache
import TierCachePolicy
import TierCacheSupport

/// A user as connections check it: from the users file, or the `default` user `--requirepass` (or nothing)
/// makes. Immutable (a reload makes new ones); a class, so a connection holds it in one word.
final class AccessUser: Sendable {
    let name: String
    /// SHA-256 digests of the passwords it accepts.
    let passwordHashes: [[UInt8]]
    let noPassword: Bool
    let enabled: Bool
    let categories: Set<CommandCategory>
    let types: UserEntry.TypeScope

    init(_ entry: UserEntry) {
        name = entry.name
        passwordHashes = entry.passwordHashes
        noPassword = entry.noPassword
        enabled = entry.enabled
        categories = entry.categories
        types = entry.types
    }

    /// `default` with every permission: `--requirepass`'s password, or none.
    init(defaultWithPassword password: String?) {
        name = "default"
        passwordHashes = password.map { [Self.digest(Array($0.utf8))] } ?? []
        noPassword = password == nil
        enabled = true
        categories = Set(CommandCategory.allCases)
        types = .all
    }

    /// Whether `password` is one of this user's (any, for a `nopass` user); false for a disabled user. Every hash
    /// is compared whatever the outcome, each in constant time.
    func accepts(password: ByteBuffer) -> Bool {
        accepts(password: password.readableBytesView)
    }

    func accepts(password: some Sequence<UInt8>) -> Bool {
        guard enabled else { return false }
        if noPassword { return true }
        let given = Self.digest(Array(password))
        var matched = false
        for hash in passwordHashes where ConstantTime.equal(given, hash) { matched = true }
        return matched
    }

    /// Whether clients are this user from the moment they connect (Redis' `default` with `nopass`).
    var isOpen: Bool { enabled && noPassword }

    static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The user in Redis' `ACL LIST` form, hashes only: `user reader on #5e88… ~* +@read`.
    var aclLine: String {
        var parts = ["user", name, enabled ? "on" : "off"]
        if noPassword {
            parts.append("nopass")
        } else {
            parts += passwordHashes.map { "#" + Hex.string($0) }
        }
        switch types {
        case .all: parts.append("~*")
        case .only(let names): parts += names.sorted().map { "types:\($0)" }
        }
        parts += CommandCategory.allCases.filter(categories.contains).map { "+@\($0.rawValue)" }
        return parts.joined(separator: " ")
    }
}
