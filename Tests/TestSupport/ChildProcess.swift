#if canImport(Glibc)
    import Glibc
#endif

/// Starts programs from tests with `posix_spawn` rather than Foundation's `Process`: the test runner's threads
/// block signals (SIGTERM, SIGCHLD, …), a child inherits that mask through `Process`, and then redis-server ignores
/// SIGTERM and a shell script's waits hang. Here the child gets an empty mask and default handlers.
public enum ChildProcess {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts `arguments` (the first an absolute path) with its standard output and error going to `output`.
    public static func spawn(_ arguments: [String], output: String = "/dev/null") throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard status == 0 else {
            throw Failure(description: "posix_spawn \(arguments[0]): \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// Runs `arguments` to its end; returns its exit status and what it printed (output and errors together).
    public static func run(_ arguments: [String]) throws(Failure) -> (status: Int32, output: String) {
        let path = "/tmp/tiercache-test-output.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(path) }
        let pid = try spawn(arguments, output: path)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        var text: [UInt8] = []
        if let file = fopen(path, "r") {
            defer { fclose(file) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = fread(&buffer, 1, buffer.count, file)
                if count <= 0 { break }
                text += buffer[..<count]
            }
        }
        // Exited normally: the status is in bits 8-15; otherwise report the signal as a failure.
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : -1, String(decoding: text, as: UTF8.self))
    }
}
