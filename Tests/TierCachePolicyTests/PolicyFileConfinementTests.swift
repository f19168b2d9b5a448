import Foundation
import Testing
import TierCachePolicy

/// Which files a policy directory may make the loader read: symlinks must stay inside it, files must be small.
@Suite struct PolicyFileConfinementTests {
    /// A shadow-like line: what a link to a secret outside the directory would show if it were read.
    static let secret = "S3cr3tH4shD0NotLeak"
    static let shadowLine = "root:$y$j9T$\(secret)/Qx7Zp0:19000:0:99999:7:::\n"
    static let limit = 1_048_576

    /// `policies/` with one valid file, and `outside/secret.yaml` beside it (outside it).
    static func layout() throws -> (root: TemporaryDirectory, policies: String, secretFile: String) {
        let root = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: root.path + "/policies", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: root.path + "/outside", withIntermediateDirectories: false)
        try root.write("policies/a.yaml", "types:\n" + PolicyLoaderTests.type("alpha"))
        let secretFile = try root.write("outside/secret.yaml", shadowLine + "daemon:*:19000:0:99999:7:::\n")
        return (root, root.path + "/policies", secretFile)
    }

    static func link(_ name: String, in directory: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: target)
    }

    static func loadErrors(_ path: String) -> [PolicyError] {
        do {
            _ = try PolicyLoader.load(path: path)
            return []
        } catch {
            return error.errors
        }
    }

    @Test func aLinkLeavingTheDirectoryIsRefusedWithoutReadingIt() throws {
        let (root, policies, secretFile) = try Self.layout()
        defer { root.remove() }
        let digestBefore = PolicyLoader.currentDigest(path: policies)
        try Self.link("zz.yaml", in: policies, to: secretFile)
        try Self.link("rel.yaml", in: policies, to: "../outside/secret.yaml")

        let errors = Self.loadErrors(policies)
        #expect(
            errors.map(\.description) == [
                "\(policies)/rel.yaml:1:1: rel.yaml links outside the policy directory; not read",
                "\(policies)/zz.yaml:1:1: zz.yaml links outside the policy directory; not read",
            ])
        #expect(errors.map(\.code) == [.unreadable, .unreadable])
        #expect(!errors.contains { $0.description.contains(Self.secret) || $0.description.contains("root:") })
        // The watcher compares digests: a new link out must count as a change, so its error is reported.
        #expect(PolicyLoader.currentDigest(path: policies) != digestBefore)
    }

    @Test func aLinkedDataDirectoryOutsideIsRefused() throws {
        let (root, policies, _) = try Self.layout()
        defer { root.remove() }
        // ConfigMap-shaped, but `..data` itself points out of the directory.
        try Self.link("..data", in: policies, to: root.path + "/outside")
        try Self.link("x.yaml", in: policies, to: "..data/secret.yaml")
        let errors = Self.loadErrors(policies)
        let expected = "\(policies)/x.yaml:1:1: x.yaml links outside the policy directory; not read"
        #expect(errors.map(\.description) == [expected])
        #expect(!errors.contains { $0.description.contains(Self.secret) })
    }

    @Test func configMapLinksInsideTheDirectoryAreFollowed() throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let mount = root.path + "/configmap"
        try FileManager.default.createDirectory(
            atPath: mount + "/..2024_01_01_00_00_00.123", withIntermediateDirectories: true)
        try root.write("configmap/..2024_01_01_00_00_00.123/x.yaml", "types:\n" + PolicyLoaderTests.type("xray"))
        try Self.link("..data", in: mount, to: "..2024_01_01_00_00_00.123")
        try Self.link("x.yaml", in: mount, to: "..data/x.yaml")
        #expect(try PolicyLoader.load(path: mount).types.map(\.name) == ["xray"])

        // The policy path itself may be a symlink (the operator's choice), to the directory or to one file.
        try Self.link("policies", in: root.path, to: mount)
        #expect(try PolicyLoader.load(path: root.path + "/policies").types.map(\.name) == ["xray"])
        #expect(try PolicyLoader.load(path: root.path + "/policies/x.yaml").types.map(\.name) == ["xray"])
    }

    @Test func aFileOverOneMebibyteIsRefusedUnparsed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Valid YAML either way, so only the size can refuse it.
        let header = "types:\n" + PolicyLoaderTests.type("big") + "#"
        let padding = String(repeating: "x", count: Self.limit - header.utf8.count - 1) + "\n"
        let atLimit = try directory.write("big.yaml", header + padding)
        #expect(try PolicyLoader.load(path: directory.path).types.map(\.name) == ["big"])

        try directory.write("big.yaml", header + "x" + padding)
        let errors = Self.loadErrors(directory.path)
        #expect(
            errors.map(\.description) == [
                "\(atLimit):1:1: file is 1048577 bytes, over the 1048576-byte (1 MiB) limit for a policy file; "
                    + "not read"
            ])
        #expect(errors.map(\.code) == [.unreadable])
        #expect(loadErrorLines(atLimit) == errors.map(\.description), "a single file is limited too")
    }

    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("a.yaml", "types:\n" + PolicyLoaderTests.type("alpha"))
        #expect(mkfifo(directory.path + "/pipe.yaml", 0o600) == 0)
        #expect(loadErrorLines(directory.path) == ["\(directory.path)/pipe.yaml:1:1: not a regular file; not read"])
    }
}
