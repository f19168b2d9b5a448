import Foundation
import Testing
import TierCachePolicy

/// Reading directories and files, and the problems only merging several files can show.
@Suite struct PolicyLoaderTests {
    static func type(_ name: String, prefix: String? = nil) -> String {
        let prefixLine = prefix.map { "    prefix: \($0)\n" } ?? ""
        return "  \(name):\n\(prefixLine)    load: SELECT data FROM \(name) WHERE id = ?\n"
            + "    tables: [\(name)]\n    ttl: 1m\n"
    }

    @Test func mergesTheFilesOfADirectoryInNameOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("b.yml", "types:\n" + Self.type("beta"))
        try directory.write("a.yaml", "types:\n" + Self.type("alpha") + Self.type("zeta"))
        try directory.write(".hidden.yaml", "not: [valid")
        try directory.write("README.md", "not a policy")
        try FileManager.default.createDirectory(atPath: directory.path + "/sub", withIntermediateDirectories: false)
        try directory.write("sub/nested.yaml", "not: [valid")
        try FileManager.default.createDirectory(
            atPath: directory.path + "/dir.yaml", withIntermediateDirectories: false)

        let set = try PolicyLoader.load(path: directory.path)
        #expect(set.files == [directory.path + "/a.yaml", directory.path + "/b.yml"])
        #expect(set.types.map(\.name) == ["alpha", "beta", "zeta"])
        #expect(
            set.type(named: "beta")?.location == SourceLocation(file: directory.path + "/b.yml", line: 2, column: 3))
        #expect(set.defaultPolicy == .noCache)
    }

    @Test func aTrailingSlashDoesNotDoubleInPaths() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("a.yaml", "types:\n  a:\n    ttl: 1m\n")
        #expect(
            loadErrorLines(directory.path + "/") == [
                "\(directory.path)/a.yaml:2:3: type 'a': missing required key 'load'",
                "\(directory.path)/a.yaml:2:3: type 'a': missing required key 'tables'",
            ])
    }

    @Test func loadsASingleFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("only.txt", "types:\n" + Self.type("one"))
        let set = try PolicyLoader.load(path: file)
        #expect(set.types.map(\.name) == ["one"])
        #expect(set.files == [file])
    }

    @Test func typeDefinedInTwoFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("a.yaml", "types:\n" + Self.type("auth_tokens"))
        try directory.write("b.yaml", "# second\ntypes:\n" + Self.type("auth_tokens"))
        let path = directory.path
        #expect(
            loadErrorLines(path) == [
                "\(path)/b.yaml:3:3: type 'auth_tokens' is defined twice (first at \(path)/a.yaml:2:3)"
            ])
    }

    @Test func aBrokenTypeDefinedAgainIsStillADuplicate() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("a.yaml", "types:\n  auth_tokens:\n    ttl: 1h\n")
        try directory.write("b.yaml", "types:\n" + Self.type("auth_tokens"))
        let path = directory.path
        #expect(
            loadErrorLines(path) == [
                "\(path)/a.yaml:2:3: type 'auth_tokens': missing required key 'load'",
                "\(path)/a.yaml:2:3: type 'auth_tokens': missing required key 'tables'",
                "\(path)/b.yaml:2:3: type 'auth_tokens' is defined twice (first at \(path)/a.yaml:2:3)",
            ])
    }

    @Test func duplicateAndOverlappingPrefixes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("a.yaml", "types:\n" + Self.type("sessions", prefix: "sess") + Self.type("app"))
        try directory.write(
            "b.yaml",
            "types:\n" + Self.type("other_sessions", prefix: "sess") + Self.type("sess")
                + Self.type("app_users", prefix: "app:users"))
        let path = directory.path
        let lines = loadErrorLines(path)
        #expect(
            lines == [
                "\(path)/b.yaml:3:13: type 'other_sessions': prefix 'sess' is already used by type 'sessions' "
                    + "(at \(path)/a.yaml:3:13)",
                "\(path)/b.yaml:7:3: type 'sess': default prefix 'sess' (the type name) is already used by type "
                    + "'sessions' (at \(path)/a.yaml:3:13)",
                "\(path)/b.yaml:12:13: type 'app_users': prefix 'app:users' overlaps prefix 'app' of type 'app' "
                    + "(at \(path)/a.yaml:7:3): key 'app:users:1' would belong to both",
            ])
    }

    @Test func defaultSectionInTwoFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("a.yaml", "default:\n  cache: false\n")
        try directory.write("b.yaml", "types:\n" + Self.type("b") + "default:\n  cache: true\n  ttl: 1m\n")
        let path = directory.path
        #expect(
            loadErrorLines(path) == [
                "\(path)/b.yaml:6:1: default section is defined twice (first at \(path)/a.yaml:1:1); "
                    + "only one file may have one"
            ])
    }

    @Test func emptyDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path
        let expected = ["\(path):1:1: no policy files in \(path) (expected *.yaml or *.yml)"]
        #expect(loadErrorLines(path) == expected)
        try directory.write(".hidden.yaml", "types: {}\n")
        try directory.write("notes.txt", "types: {}\n")
        #expect(loadErrorLines(path) == expected)
    }

    @Test func missingPath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/nope.yaml"
        #expect(loadErrorLines(path) == ["\(path):1:1: no such file or directory"])
        do {
            _ = try PolicyLoader.load(path: path)
            Issue.record("loading a missing file succeeded")
        } catch {
            #expect(error.errors.map(\.code) == [.unreadable])
        }
    }

    @Test func fileThatIsNotUTF8() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.path + "/bad.yaml"
        try Data([0x74, 0x79, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: file))
        #expect(loadErrorLines(file) == ["\(file):1:1: cannot read file: not valid UTF-8"])
    }

    @Test func errorsOfEveryFileAreCollectedInFileOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("c.yaml", "types:\n  c:\n    load: \"SELECT\n")
        try directory.write(
            "a.yaml",
            "types:\n" + Self.type("dup") + "  bad:\n    load: SELECT 1 WHERE ? = 1\n    tables: [bad]\n"
                + "    ttl: soon\n")
        try directory.write("b.yaml", "typse:\n  x: {}\ntypes:\n" + Self.type("dup"))
        let path = directory.path
        let lines = loadErrorLines(path)
        #expect(lines.count == 4)
        #expect(
            Array(lines.prefix(3)) == [
                "\(path)/a.yaml:9:10: type 'bad': invalid ttl 'soon' "
                    + "(expected seconds or a number with unit ms, s, m, h, d, e.g. 30s, 10m)",
                "\(path)/b.yaml:1:1: unknown top-level key 'typse', did you mean 'types'? "
                    + "(expected one of: types, default, alerts)",
                "\(path)/b.yaml:4:3: type 'dup' is defined twice (first at \(path)/a.yaml:2:3)",
            ])
        #expect(lines.last?.hasPrefix("\(path)/c.yaml:4:1: invalid YAML: ") == true)
    }

    @Test func mergeOfParsedFiles() throws {
        let first = try PolicyLoader.parse(yaml: "types:\n" + Self.type("a"), file: "one.yaml").get()
        let second = try PolicyLoader.parse(yaml: "types:\n" + Self.type("a"), file: "two.yaml").get()
        #expect(
            throws: PolicyLoadError(errors: [
                PolicyError(
                    .duplicateType, at: SourceLocation(file: "two.yaml", line: 2, column: 3),
                    "type 'a' is defined twice (first at one.yaml:2:3)")
            ])
        ) {
            try PolicySet.merge([first, second])
        }
        let merged = try PolicySet.merge([first])
        #expect(merged.types == first.types)
        #expect(merged.files == ["one.yaml"])
    }
}
