import Testing
import TierCachePolicy

/// The users file (`--users`): users as written, and each mistake at its line and column, never echoing what may
/// be a password.
@Suite struct UsersFileParsingTests {
    /// sha256("password"), as `printf %s password | sha256sum` prints it.
    static let hash = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

    private func errors(_ yaml: String) -> [String] {
        guard case .failure(let error) = UsersFile.parse(yaml: yaml, file: "users.yaml") else { return [] }
        return error.errors.map(\.description)
    }

    @Test func usersAsWritten() throws {
        let file = try UsersFile.parse(
            yaml: """
                users:
                  reader:
                    password_sha256: \(Self.hash)
                    commands: [read]
                    types: [user_sessions, product_catalog]
                  ops:
                    password_sha256: [\(Self.hash), \(Self.hash.uppercased())]
                    commands: ['*']
                    types: ['*']
                  default:
                    nopass: true
                    enabled: false
                    commands: [read, write]
                    types: []
                """, file: "users.yaml"
        ).get()
        #expect(file.users.map(\.name) == ["reader", "ops", "default"])
        let reader = file.users[0]
        #expect(reader.categories == [.read])
        #expect(reader.types == .only(["user_sessions", "product_catalog"]))
        #expect(reader.passwordHashes.count == 1 && reader.passwordHashes[0].count == 32)
        #expect(reader.passwordHashes[0].prefix(2) == [0x5e, 0x88])
        #expect(reader.enabled && !reader.noPassword)
        #expect(reader.location.description == "users.yaml:2:3")
        let ops = file.users[1]
        #expect(ops.categories == Set(CommandCategory.allCases))
        #expect(ops.types == .all)
        #expect(ops.passwordHashes.count == 2 && ops.passwordHashes[0] == ops.passwordHashes[1])
        let defaultUser = file.users[2]
        #expect(defaultUser.noPassword && !defaultUser.enabled && defaultUser.types == .only([]))
    }

    @Test func everyMistakeAtItsPlace() {
        let found = errors(
            """
            users:
              reader:
                password_sha256: hunter2-not-a-hash
                commands: [read, wirte]
                types: [user_sessions]
                colour: blue
              writer:
                commands: [write, sql]
                types: [user_sessions]
              'bad name':
                nopass: true
                commands: [read]
                types: ['*']
            """)
        #expect(
            found == [
                "users.yaml:3:22: user 'reader': invalid password_sha256 (a value of 18 characters, not shown; "
                    + "expected "
                    + "the SHA-256 of the password as 64 hex digits, e.g. from: printf %s PASSWORD | sha256sum)",
                "users.yaml:4:22: user 'reader': unknown command category 'wirte', did you mean 'write'? (expected a "
                    + "list of read, write, sql, admin, or ['*'])",
                "users.yaml:6:5: user 'reader': unknown key 'colour' (expected one of: password_sha256, nopass, "
                    + "enabled, "
                    + "commands, types)",
                "users.yaml:7:3: user 'writer': missing required key 'password_sha256' (or nopass: true for a user "
                    + "with no password)",
                "users.yaml:7:3: user 'writer': commands include sql, which runs statements on any table; give it "
                    + "types: ['*'] or leave sql out",
                "users.yaml:10:3: invalid user name 'bad name' (expected 1 to 64 letters, digits, '_', '-' or '.')",
            ])
        #expect(!found.joined().contains("hunter2"))
    }

    @Test func wholeFileMistakes() {
        #expect(
            errors("") == [
                "users.yaml:1:1: invalid users file: found an empty file (expected a mapping with the key users)"
            ])
        #expect(errors("users: []\n").first?.hasPrefix("users.yaml:1:8: invalid users: found a list") == true)
        #expect(
            errors("user:\n  a: {}\n").first?.contains("unknown top-level key 'user', did you mean 'users'?") == true)
        #expect(
            errors(
                "users:\n  a:\n    nopass: true\n    password_sha256: \(Self.hash)\n    commands: []\n    types: []\n")
                == ["users.yaml:2:3: user 'a': has both password_sha256 and nopass: true; keep one"])
        #expect(
            errors("users:\n  a:\n    nopass: yes\n    commands: read\n    types: ['*']\n")
                == [
                    "users.yaml:4:15: user 'a': invalid commands: found 'read' (expected a list of read, write, sql, "
                        + "admin, or ['*'])"
                ])
        #expect(errors("users: {a: [\n").first?.hasPrefix("users.yaml:") == true)
    }
}
