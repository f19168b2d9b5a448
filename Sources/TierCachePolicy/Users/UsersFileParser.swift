import TierCacheSupport
import Yams

/// Turns a users file's text into `UserEntry`s, collecting every problem with its `file:line:column`. It walks the
/// YAML nodes with the policy parser's helpers, so both files report problems the same way.
///
/// ```yaml
/// users:
///   reader:
///     password_sha256: 5e88…42d8     # or a list of them, to rotate a password
///     commands: [read]               # read, write, sql, admin, or '*'
///     types: [user_sessions]         # type names of the policy, or '*'
/// ```
struct UsersFileParser {
    private var yaml: PolicyFileParser
    var errors: [PolicyError] { yaml.errors }

    init(file: String) {
        yaml = PolicyFileParser(file: file)
    }

    private static let fileExpectation = "expected a mapping with the key users"
    private static let userExpectation = "expected a mapping with password_sha256 (or nopass: true), commands and types"
    static let hashExpectation =
        "the SHA-256 of the password as 64 hex digits, e.g. from: printf %s PASSWORD | sha256sum"

    mutating func parse(yaml text: String) -> [UserEntry] {
        if let refused = yaml.collectionKeyError(in: text) {
            yaml.errors.append(refused)
            return []
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            yaml.errors.append(yaml.yamlError(error, in: text))
            return []
        }
        guard let root, case .mapping(let mapping) = root else {
            let found = root.map { yaml.kind(of: $0) } ?? "an empty file"
            yaml.report(
                .wrongType, at: root.map { yaml.location(of: $0) } ?? .start(of: yaml.file),
                "invalid users file: found \(found) (\(Self.fileExpectation))")
            return []
        }
        var users: [UserEntry] = []
        var sawUsers = false
        for (keyNode, value) in mapping {
            guard let key = yaml.keyName(keyNode, context: nil) else { continue }
            guard key == "users" else {
                yaml.reportUnknownKey(key, at: keyNode, context: nil, expected: ["users"])
                continue
            }
            sawUsers = true
            users = parseUsers(value)
        }
        if !sawUsers, errors.isEmpty {
            yaml.report(.missingKey, at: .start(of: yaml.file), "missing top-level key 'users'")
        }
        return users
    }

    private mutating func parseUsers(_ node: Node) -> [UserEntry] {
        guard case .mapping(let mapping) = node, !mapping.isEmpty else {
            yaml.report(
                .wrongType, at: yaml.location(of: node),
                "invalid users: found \(yaml.describe(node)) (expected a mapping from user names to their settings)")
            return []
        }
        var users: [UserEntry] = []
        for (keyNode, body) in mapping {
            guard let name = yaml.keyName(keyNode, context: nil) else { continue }
            if let user = parseUser(named: name, at: yaml.location(of: keyNode), body: body) { users.append(user) }
        }
        return users
    }

    private mutating func parseUser(named name: String, at nameLocation: SourceLocation, body: Node) -> UserEntry? {
        let errorsBefore = errors.count
        if !Self.isValidUserName(name) {
            yaml.report(
                .invalidValue, at: nameLocation,
                "invalid user name \(Excerpt.quoted(name)) (expected 1 to 64 letters, digits, '_', '-' or '.')")
        }
        let context = "user \(Excerpt.quoted(name))"
        guard case .mapping(let settings) = body else {
            let found = yaml.isNull(body) ? "no settings" : "invalid settings: found \(yaml.describe(body))"
            yaml.report(
                .wrongType, at: yaml.isNull(body) ? nameLocation : yaml.location(of: body),
                "\(context): \(found) (\(Self.userExpectation))")
            return nil
        }
        var hashes: [[UInt8]]?
        var noPassword: Bool?
        var enabled: Bool?
        var categories: Set<CommandCategory>?
        var types: UserEntry.TypeScope?
        var seen: Set<UserEntry.Field> = []
        for (keyNode, value) in settings {
            guard let key = yaml.keyName(keyNode, context: context) else { continue }
            guard let field = UserEntry.Field(rawValue: key) else {
                yaml.reportUnknownKey(
                    key, at: keyNode, context: context, expected: UserEntry.Field.allCases.map(\.rawValue))
                continue
            }
            seen.insert(field)
            let entry = PolicyFileParser.Entry(
                context: context, key: key, keyLocation: yaml.location(of: keyNode), value: value,
                valueLocation: yaml.location(of: value))
            switch field {
            case .passwordSHA256: hashes = readHashes(entry)
            case .nopass: noPassword = yaml.readBool(entry)
            case .enabled: enabled = yaml.readBool(entry)
            case .commands: categories = readCategories(entry)
            case .types: types = readTypes(entry)
            }
        }
        if seen.contains(.passwordSHA256), noPassword == true {
            yaml.report(
                .invalidValue, at: nameLocation, "\(context): has both password_sha256 and nopass: true; keep one")
        } else if !seen.contains(.passwordSHA256), !seen.contains(.nopass) {
            yaml.report(
                .missingKey, at: nameLocation,
                "\(context): missing required key 'password_sha256' (or nopass: true for a user with no password)")
        }
        for field in [UserEntry.Field.commands, .types] where !seen.contains(field) {
            yaml.report(.missingKey, at: nameLocation, "\(context): missing required key '\(field.rawValue)'")
        }
        // SQL.EXEC may write any table, so a user limited to some types must not have it.
        if let categories, categories.contains(.sql), let types, types != .all {
            yaml.report(
                .invalidValue, at: nameLocation,
                "\(context): commands include sql, which runs statements on any table; give it types: ['*'] or "
                    + "leave sql out")
        }
        guard errors.count == errorsBefore, let categories, let types else { return nil }
        return UserEntry(
            name: name, passwordHashes: hashes ?? [], noPassword: noPassword ?? false, enabled: enabled ?? true,
            categories: categories, types: types, location: nameLocation)
    }

    // MARK: Values

    /// One hash, or a list of them.
    private mutating func readHashes(_ entry: PolicyFileParser.Entry) -> [[UInt8]]? {
        let nodes: [Node]
        if case .sequence(let sequence) = entry.value {
            nodes = Array(sequence)
        } else {
            nodes = [entry.value]
        }
        guard !nodes.isEmpty else {
            yaml.report(
                .invalidValue, at: entry.valueLocation,
                "\(entry.context): password_sha256 lists no hash (expected \(Self.hashExpectation))")
            return nil
        }
        var hashes: [[UInt8]] = []
        for node in nodes {
            guard case .scalar(let scalar) = node, !yaml.isNull(node) else {
                yaml.report(
                    .wrongType, at: yaml.location(of: node),
                    "\(entry.context): invalid password_sha256: found \(yaml.describe(node)) "
                        + "(expected \(Self.hashExpectation))")
                return nil
            }
            // Never echoed: a mistake here is often the password itself pasted in place of its hash.
            guard let hash = Hex.bytes(scalar.string), hash.count == 32 else {
                yaml.report(
                    .invalidValue, at: yaml.location(of: node),
                    "\(entry.context): invalid password_sha256 (a value of \(scalar.string.count) characters, not "
                        + "shown; expected \(Self.hashExpectation))")
                return nil
            }
            hashes.append(hash)
        }
        return hashes
    }

    private mutating func readCategories(_ entry: PolicyFileParser.Entry) -> Set<CommandCategory>? {
        let expected = "a list of read, write, sql, admin, or ['*']"
        guard let words = readList(entry, expected: expected) else { return nil }
        var categories: Set<CommandCategory> = []
        var valid = true
        for (word, location) in words {
            if word == "*" {
                categories.formUnion(CommandCategory.allCases)
            } else if let category = CommandCategory(rawValue: word.lowercased()) {
                categories.insert(category)
            } else {
                let names = CommandCategory.allCases.map(\.rawValue)
                let suggestion = KeySuggestion.closest(to: word, among: names).map { ", did you mean '\($0)'?" } ?? ""
                yaml.report(
                    .invalidValue, at: location,
                    "\(entry.context): unknown command category \(Excerpt.quoted(word))\(suggestion) "
                        + "(expected \(expected))"
                )
                valid = false
            }
        }
        return valid ? categories : nil
    }

    private mutating func readTypes(_ entry: PolicyFileParser.Entry) -> UserEntry.TypeScope? {
        let expected = "a list of the policy's type names, or ['*'] for every type"
        guard let words = readList(entry, expected: expected) else { return nil }
        var names: Set<String> = []
        var valid = true
        for (word, location) in words {
            if word == "*" { return .all }
            guard Identifier.isValid(word) else {
                yaml.report(
                    .invalidValue, at: location,
                    "\(entry.context): invalid type name \(Excerpt.quoted(word)) (expected \(Identifier.rule))")
                valid = false
                continue
            }
            names.insert(word)
        }
        return valid ? .only(names) : nil
    }

    /// A list of plain words with where each is written; an empty list is allowed (a user with no types).
    private mutating func readList(_ entry: PolicyFileParser.Entry, expected: String) -> [(String, SourceLocation)]? {
        guard case .sequence(let sequence) = entry.value else {
            yaml.report(
                .wrongType, at: yaml.isNull(entry.value) ? entry.keyLocation : entry.valueLocation,
                "\(entry.context): invalid \(entry.key): found \(yaml.describe(entry.value)) (expected \(expected))")
            return nil
        }
        var words: [(String, SourceLocation)] = []
        for node in sequence {
            guard case .scalar(let scalar) = node, !yaml.isNull(node) else {
                yaml.report(
                    .wrongType, at: yaml.location(of: node),
                    "\(entry.context): invalid \(entry.key) entry: found \(yaml.describe(node)) (expected \(expected))")
                return nil
            }
            words.append((scalar.string, yaml.location(of: node)))
        }
        return words
    }

    static func isValidUserName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
                    || $0 == "-" || $0 == "."
            }
    }
}
