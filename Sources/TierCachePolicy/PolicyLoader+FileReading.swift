#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension PolicyLoader {
    /// Largest policy file read, 1 MiB: far above any real policy, and a file that is no policy (a log, a database
    /// linked in by mistake) is refused without being read whole.
    public static let maximumFileSize = 1 << 20

    /// Reads one policy file, refusing one that is too large, not a regular file, or, for a directory's file, one
    /// that lies outside the directory.
    ///
    /// - Parameters:
    ///   - file: The path to open; error locations name it as given.
    ///   - directory: For a directory's file, the directory's real path (see `realPath(_:)`): the file read must lie
    ///     inside it. `nil` for a policy path that is itself a file, which the operator chose.
    static func readSource(_ file: String, confinedTo directory: String?) -> (sources: [Source], errors: [PolicyError])
    {
        func refused(_ message: String) -> (sources: [Source], errors: [PolicyError]) {
            ([], [PolicyError(.unreadable, at: .start(of: file), message)])
        }
        // Checked before opening, so a file outside is never opened (opening a device can do things of its own).
        if let directory, let real = realPath(file), !isInside(real, directory) {
            return refused(outsideMessage(file))
        }
        // O_NONBLOCK: a FIFO opens at once, to be refused below, instead of blocking the reload.
        let descriptor = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return refused("cannot read file: \(reason(errno: errno))") }
        defer { close(descriptor) }
        // The check above and the open are two steps; what was opened is checked again, so a link swapped in
        // between them is refused too.
        if let directory, let opened = openedPath(descriptor), !isInside(opened, directory) {
            return refused(outsideMessage(file))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return refused("cannot read file: \(reason(errno: errno))") }
        guard status.st_mode & S_IFMT == S_IFREG else { return refused("not a regular file; not read") }
        guard status.st_size <= maximumFileSize else { return refused(tooLargeMessage(size: Int(status.st_size))) }

        // One byte past the limit at most: a file that grew since `fstat` is still refused, not read whole.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count <= maximumFileSize {
            let wanted = min(chunk.count, maximumFileSize + 1 - bytes.count)
            let result = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, wanted) }
            if result < 0, errno == EINTR { continue }
            guard result >= 0 else { return refused("cannot read file: \(reason(errno: errno))") }
            if result == 0 { break }
            bytes += chunk[..<result]
        }
        guard bytes.count <= maximumFileSize else { return refused(tooLargeMessage(size: nil)) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return refused("cannot read file: not valid UTF-8")
        }
        return ([Source(file: file, text: text)], [])
    }

    /// `path` with every symlink, `.` and `..` resolved, or `nil` when it does not resolve (a dangling link).
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether the real path `path` is `directory` or lies under it.
    static func isInside(_ path: String, _ directory: String) -> Bool {
        path == directory || path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
    }

    /// Names the file but never its target, which may be anything on the machine.
    static func outsideMessage(_ file: String) -> String {
        let name = file.split(separator: "/").last.map(String.init) ?? file
        return "\(name) links outside the policy directory; not read"
    }

    private static func tooLargeMessage(size: Int?) -> String {
        let limit = "the \(maximumFileSize)-byte (1 MiB) limit for a policy file; not read"
        return size.map { "file is \($0) bytes, over \(limit)" } ?? "file is over \(limit)"
    }

    /// The real path of the file an open descriptor refers to, where the system tells (Linux); else `nil`.
    private static func openedPath(_ descriptor: Int32) -> String? {
        #if os(Linux)
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count)
            guard length > 0, length < buffer.count else { return nil }
            return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #else
            return nil
        #endif
    }

    /// A failed call's cause, in the words the loader used before it called the system itself.
    private static func reason(errno code: Int32) -> String {
        switch code {
        case ENOENT: "no such file or directory"
        case EACCES, EPERM: "permission denied"
        default: "I/O error"
        }
    }
}
