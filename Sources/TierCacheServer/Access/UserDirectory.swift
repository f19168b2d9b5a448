import Logging
import Synchronization
import TierCachePolicy

/// Who may connect: the users of `--users FILE` and the `default` user, swapped whole when the file is reloaded.
///
/// `default` comes from the file when it defines one; otherwise it has `--requirepass`'s password and every
/// permission, or, with neither, no password (clients need not AUTH, as in Redis). With a users file that does not
/// define it and no `--requirepass`, `default` is off: every client must AUTH as a user of the file.
///
/// Connections read `version` once per batch and look their user up again when it moved, so a reload's changed
/// permissions apply from a client's next command, and a removed or disabled user's connections must AUTH again.
public final class UserDirectory: Sendable {
    let file: String?
    private let requirePassword: String?
    private let users: Mutex<[String: AccessUser]>
    /// Moves on every successful reload.
    let version = Atomic<UInt64>(1)
    /// The last reload's failure, for `STATS`; nil after a success.
    let lastError = Mutex<String?>(nil)
    let reloads = Atomic<Int>(0)
    let failedReloads = Atomic<Int>(0)

    /// Loads `file` when given; its problems are thrown all at once, each at its `file:line:column`.
    init(file: String?, requirePassword: String?) throws(PolicyLoadError) {
        self.file = file
        self.requirePassword = requirePassword
        let parsed = try file.map { path throws(PolicyLoadError) in try UsersFile.load(path: path).get() }
        users = Mutex(try Self.compile(parsed, requirePassword: requirePassword))
    }

    /// Checks a users file (and `--requirepass` beside it) before start-up: the users it gives and whether
    /// clients may use the proxy without a password.
    public static func check(file: String?, requirePassword: String?) throws(PolicyLoadError) -> (
        users: [String], isOpen: Bool
    ) {
        let directory = try UserDirectory(file: file, requirePassword: requirePassword)
        return (directory.all.map(\.name), directory.isOpen)
    }

    static func compile(_ file: UsersFile?, requirePassword: String?) throws(PolicyLoadError) -> [String: AccessUser] {
        var users: [String: AccessUser] = [:]
        for entry in file?.users ?? [] { users[entry.name] = AccessUser(entry) }
        if let defined = file?.users.first(where: { $0.name == "default" }) {
            guard requirePassword == nil else {
                throw PolicyLoadError(errors: [
                    PolicyError(
                        .invalidValue, at: defined.location,
                        "user 'default' is defined here and by --requirepass; keep one (this entry can set "
                            + "default's password and permissions)")
                ])
            }
        } else if file == nil || requirePassword != nil {
            users["default"] = AccessUser(defaultWithPassword: requirePassword)
        }
        return users
    }

    func user(named name: String) -> AccessUser? {
        users.withLock { $0[name] }
    }

    /// The user a new connection is before any AUTH: `default` when it needs no password, else nobody.
    var initialUser: AccessUser? {
        user(named: "default").flatMap { $0.isOpen ? $0 : nil }
    }

    /// Whether anyone can use the proxy without a password (protected mode then serves loopback clients only).
    var isOpen: Bool { initialUser != nil }

    /// Whether `AUTH password` (no user name) can ever succeed: `default` has a password to check.
    var defaultHasPassword: Bool {
        user(named: "default").map { !$0.noPassword } ?? false
    }

    /// Every user, by name.
    var all: [AccessUser] {
        users.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    /// Reads the file again: the new users replace the old ones whole, or, when it has a problem, the old ones
    /// stay and the problems are returned.
    func reload() -> Result<Int, PolicyLoadError> {
        guard let file else { return .success(users.withLock { $0.count }) }
        let compiled = UsersFile.load(path: file).flatMap { parsed in
            Result { () throws(PolicyLoadError) in try Self.compile(parsed, requirePassword: requirePassword) }
        }
        switch compiled {
        case .success(let new):
            users.withLock { $0 = new }
            version.add(1, ordering: .releasing)
            reloads.add(1, ordering: .relaxed)
            lastError.withLock { $0 = nil }
            return .success(new.count)
        case .failure(let error):
            failedReloads.add(1, ordering: .relaxed)
            lastError.withLock { $0 = error.description }
            return .failure(error)
        }
    }

    /// Warns about users naming types the policy does not have: not an error, since policy and users are
    /// reloaded apart, but usually a typo that would refuse that user everything of the type.
    func warnAboutUnknownTypes(known: Set<String>, logger: Logger) {
        for user in all {
            guard case .only(let names) = user.types else { continue }
            for name in names.subtracting(known).sorted() {
                logger.warning(
                    "a user names a type the policy does not have",
                    metadata: ["user": "\(user.name)", "type": "\(name)"])
            }
        }
    }
}
