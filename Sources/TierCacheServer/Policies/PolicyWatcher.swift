import Dispatch
import Glibc
import Logging
import Synchronization
import TierCachePolicy
import TierCacheSupport

/// Reloads the policy when its files change, and on SIGHUP; the users file (`--users`) too, the same ways.
///
/// Changes are seen through inotify on the policy directory (or a single file's directory), which also catches
/// the Kubernetes ConfigMap pattern: the files are symlinks into `..data`, itself a symlink swapped atomically by a
/// rename into the directory. A poll every `pollInterval` backs it up (filesystems without inotify, a directory
/// replaced wholesale). Both only ask for a reload when the files' digest differs from the last one tried, so a
/// broken file is reported once, not on every poll. Everything runs on one serial queue, reloads included.
final class PolicyWatcher: Sendable {
    private let proxy: Proxy
    private let mode: PolicyWatchMode
    private let pollInterval: Duration
    private let queue = DispatchQueue(label: "tiercache.policy-watcher")
    private let logger: Logger
    /// Sources, their file descriptor, and the digest last tried; touched only on `queue` after `start`.
    private let state = Mutex<State>(State())
    /// How long after an inotify event the files are read: editors and ConfigMap updates write in several steps.
    static let settleTime = DispatchTimeInterval.milliseconds(50)

    /// `@unchecked Sendable`: dispatch sources are thread-safe (libdispatch lets any thread call `cancel`), and
    /// after `start` nothing but `cancel` is called on them.
    private struct Sources: @unchecked Sendable {
        var all: [any DispatchSourceProtocol] = []
    }

    private struct State: ~Copyable {
        var sources = Sources()
        var inotify: Int32 = -1
        var lastTried: String
        var lastTriedUsers = ""
        var checkScheduled = false

        init(lastTried: String = "") { self.lastTried = lastTried }
    }

    init(proxy: Proxy, mode: PolicyWatchMode, pollInterval: Duration, logger: Logger) {
        self.proxy = proxy
        self.mode = mode
        self.pollInterval = pollInterval
        self.logger = logger
    }

    func start() {
        let path = proxy.configuration.policyPath
        let running = proxy.policies.current.withLock { $0.loaded.digest }
        let usersFile = proxy.users.file
        // SIGHUP would end the process; from now on it asks for a reload.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        hangup.setEventHandler { [self] in
            reload(trigger: "SIGHUP")
            if let usersFile { reloadUsers(trigger: "SIGHUP", digest: UsersFile.currentDigest(path: usersFile)) }
            proxy.tls?.reloadIfChanged(force: true, trigger: "SIGHUP", logger: logger)
        }
        hangup.resume()
        var sources: [any DispatchSourceProtocol] = [hangup]
        var inotify: Int32 = -1
        if mode == .auto {
            inotify = watch([path] + (usersFile.map { [$0] } ?? []) + (proxy.tls?.settings.files ?? []))
            if inotify >= 0 {
                let events = DispatchSource.makeReadSource(fileDescriptor: inotify, queue: queue)
                events.setEventHandler { [self] in drain(inotify) }
                events.resume()
                sources.append(events)
            }
        }
        if mode != .off {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let nanoseconds = pollInterval.wholeNanoseconds
            timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds))
            timer.setEventHandler { [self] in check(trigger: "file change (poll)") }
            timer.resume()
            sources.append(timer)
        }
        logger.info(
            "watching the policy files",
            metadata: [
                "path": "\(path)", "mode": "\(mode.rawValue)", "inotify": "\(inotify >= 0)",
                "poll": "\(mode == .off ? "off" : "\(pollInterval)")",
            ])
        state.withLock { state in
            state.sources = Sources(all: sources)
            state.inotify = inotify
            state.lastTried = running
            state.lastTriedUsers = usersFile.map(UsersFile.currentDigest(path:)) ?? ""
        }
    }

    func stop() {
        let (sources, inotify) = state.withLock { state in
            defer {
                state.sources = Sources()
                state.inotify = -1
            }
            return (state.sources, state.inotify)
        }
        for source in sources.all { source.cancel() }
        // Closed on the queue, after any handler still reading it.
        if inotify >= 0 { queue.async { _ = close(inotify) } }
        signal(SIGHUP, SIG_DFL)
    }

    /// An inotify descriptor watching the directories that hold `paths` (each path itself, or a file's
    /// directory); -1 when inotify is unavailable (then the poll alone notices changes).
    private func watch(_ paths: [String]) -> Int32 {
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else {
            logger.warning("inotify unavailable; polling the policy files", metadata: ["errno": "\(errno)"])
            return -1
        }
        for path in paths {
            guard addWatch(descriptor, path) else {
                close(descriptor)
                return -1
            }
        }
        return descriptor
    }

    private func addWatch(_ descriptor: Int32, _ path: String) -> Bool {
        var isDirectory = false
        var info = stat()
        if stat(path, &info) == 0 { isDirectory = (info.st_mode & S_IFMT) == S_IFDIR }
        let directory: String
        if isDirectory {
            directory = path
        } else if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MODIFY)
        guard inotify_add_watch(descriptor, directory, mask) >= 0 else {
            logger.warning(
                "cannot watch a directory with inotify; polling it",
                metadata: ["directory": "\(directory)", "errno": "\(errno)"])
            return false
        }
        return true
    }

    /// Reads every pending inotify event (their content does not matter: any change means "look again"), then
    /// looks once the writes settle.
    private func drain(_ descriptor: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        let scheduled = state.withLock { state in
            defer { state.checkScheduled = true }
            return state.checkScheduled
        }
        guard !scheduled else { return }
        queue.asyncAfter(deadline: .now() + Self.settleTime) { [self] in
            state.withLock { $0.checkScheduled = false }
            check(trigger: "file change")
        }
    }

    /// Reloads what differs from what was last tried: the policy files, the users file.
    private func check(trigger: String) {
        let digest = PolicyLoader.currentDigest(path: proxy.configuration.policyPath)
        let changed = state.withLock { state in
            defer { state.lastTried = digest }
            return state.lastTried != digest
        }
        if changed { reload(trigger: trigger) }
        proxy.tls?.reloadIfChanged(force: false, trigger: trigger, logger: logger)
        guard let usersFile = proxy.users.file else { return }
        let usersDigest = UsersFile.currentDigest(path: usersFile)
        if state.withLock({ $0.lastTriedUsers != usersDigest }) { reloadUsers(trigger: trigger, digest: usersDigest) }
    }

    /// Reads the users file again; a file with problems leaves the users as they were, and says why.
    private func reloadUsers(trigger: String, digest: String) {
        state.withLock { $0.lastTriedUsers = digest }
        switch proxy.users.reload() {
        case .success(let count):
            logger.notice("users reloaded", metadata: ["trigger": "\(trigger)", "users": "\(count)"])
            proxy.users.warnAboutUnknownTypes(known: Set(proxy.policy.types.map(\.name)), logger: logger)
        case .failure(let error):
            logger.error(
                "users file refused; the users before it stay",
                metadata: ["trigger": "\(trigger)", "errors": "\(error.description)"])
        }
    }

    private func reload(trigger: String) {
        let outcome = PolicyReloader(proxy).reload(trigger: trigger)
        if case .reloaded(let record, _) = outcome {
            state.withLock { $0.lastTried = record.digest }
        }
    }
}
