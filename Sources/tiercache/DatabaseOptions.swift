import ArgumentParser
import TierCacheBackend

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `--database` and where a PostgreSQL password may come from, shared by `serve` and `db`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        help: """
            sqlite:PATH, or postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=disable|prefer|require&\
            application_name=NAME] (TIERCACHE_DATABASE); default sqlite:tiercache.db. Keep the password out of the \
            command line: PGPASSWORD or --database-password-file.
            """)
    var database: String?

    @Option(
        name: .customLong("database-password-file"),
        help: """
            A file holding the PostgreSQL password (its first line), e.g. a mounted secret \
            (TIERCACHE_DATABASE_PASSWORD_FILE). Wins over a password in the URL, which wins over PGPASSWORD.
            """)
    var passwordFile: String?

    /// The database, its password filled in from the file or `PGPASSWORD` when the URL has none. A password
    /// given on the command line is then masked in the process' arguments, so `ps` does not show it.
    func resolve() throws -> DatabaseURL {
        let text = Environment.resolve(database, "TIERCACHE_DATABASE", default: "sqlite:tiercache.db")
        var url: DatabaseURL
        do {
            url = try DatabaseURL(parsing: text)
        } catch {
            throw ValidationError("--database: \(error.message)")
        }
        Self.maskPasswordsInArguments()
        guard case .postgres(var postgres) = url else { return url }
        if let path = passwordFile ?? Environment.value("TIERCACHE_DATABASE_PASSWORD_FILE") {
            postgres.password = try Self.readPassword(path)
        } else if postgres.password == nil, let password = Environment.value("PGPASSWORD") {
            postgres.password = password
        }
        url = .postgres(postgres)
        return url
    }

    /// The first line of `path`, without its line end.
    private static func readPassword(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw ValidationError(
                "--database-password-file: cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        while true {
            let byte = fgetc(file)
            if byte == EOF || byte == 0x0A { break }
            bytes.append(UInt8(truncatingIfNeeded: byte))
            guard bytes.count <= 4096 else {
                throw ValidationError("--database-password-file: its first line is over 4 kB")
            }
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { throw ValidationError("--database-password-file: \(path) holds no password") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Overwrites with `*` the password of every `postgres://user:password@…` among the process' arguments, in
    /// place: `/proc/PID/cmdline`, and so `ps`, then show the URL without it. (Between the start and this
    /// moment it was visible: the README says to keep it out of the command line.)
    static func maskPasswordsInArguments() {
        for index in 1..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[index] else { continue }
            let length = strlen(argument)
            let bytes = UnsafeMutableRawBufferPointer(start: argument, count: length)
            guard let range = passwordRange(in: Array(bytes)) else { continue }
            for position in range { bytes[position] = UInt8(ascii: "*") }
        }
    }

    /// Where the password of a `postgres://` or `postgresql://` URL lies in `bytes` (which may start with
    /// `--database=`): between the first `:` after the user and the last `@`.
    static func passwordRange(in bytes: [UInt8]) -> Range<Int>? {
        let schemes = [Array("postgres://".utf8), Array("postgresql://".utf8)]
        guard
            let (index, scheme) = bytes.indices.lazy.compactMap({ index in
                schemes.first { bytes[index...].starts(with: $0) }.map { (index, $0) }
            }).first
        else { return nil }
        let start = index + scheme.count
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > start,
            let colon = bytes[start..<at].firstIndex(of: UInt8(ascii: ":")), colon + 1 < at
        else { return nil }
        return (colon + 1)..<at
    }
}
