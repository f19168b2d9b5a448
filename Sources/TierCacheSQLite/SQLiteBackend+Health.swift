#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import TierCacheBackend

extension SQLiteBackend {
    /// What checking one idle connection found.
    private enum Finding {
        case healthy
        /// The file it has open is no longer at the path.
        case moved
        /// Closed by an earlier reopen that failed part way.
        case closed
        case failed(BackendError)
    }

    /// Checks every idle connection: that its file is still the one at the path, and that reading the schema
    /// works. When the file at the path was replaced (a restored backup), reopens every connection; when it is
    /// gone, keeps them: reads go on seeing the file as it was, and writes fail, until it is back.
    public func checkHealth() -> BackendHealthCheck {
        guard !isClosed.load(ordering: .relaxed) else { return BackendHealthCheck(problem: "database is closed") }
        var moved = false
        var closed = false
        var failure: BackendError?
        for pool in [writer, readers] {
            for finding in pool.forEachIdle(Self.examine) {
                switch finding {
                case .healthy: break
                case .moved: moved = true
                case .closed: closed = true
                case .failed(let error): failure = failure ?? error
                }
            }
        }
        guard moved || closed else {
            return BackendHealthCheck(problem: failure.map { "database at '\(path)' fails a read: \($0.message)" })
        }
        guard access(path, F_OK) == 0 else {
            return BackendHealthCheck(
                problem: "database file '\(path)' was moved or deleted: calls go on using the file as it was until one is back at that path"
            )
        }
        do {
            try reopenAll()
            return BackendHealthCheck(reopened: true)
        } catch {
            return BackendHealthCheck(problem: "database file '\(path)' was replaced; reopening it failed: \(error.message)")
        }
    }

    private static func examine(_ connection: SQLiteConnection) -> Finding {
        guard connection.isOpen else { return .closed }
        if connection.fileHasMoved { return .moved }
        do {
            try connection.probe()
            return .healthy
        } catch {
            return .failed(error)
        }
    }

    /// Takes every connection (waiting for calls under way), closes them all, then opens the writer (which sets
    /// WAL mode on the new file) and the readers.
    ///
    /// The `-wal` and `-shm` files belong to the path, not to the file: first the writer folds the WAL into the old
    /// file (wherever it is now) and empties it, or the new file would be read through the old file's frames.
    /// SQLite does not do that itself when the last connection to a moved file closes. All connections are
    /// closed before any opens, so none of ours has the old file open beside the new one.
    private func reopenAll() throws(BackendError) {
        try writer.withAllConnections { writers throws(BackendError) in
            try readers.withAllConnections { readers throws(BackendError) in
                for connection in writers where connection.isOpen { try connection.checkpoint() }
                let all = writers + readers
                all.forEach { $0.close() }
                for connection in all { try connection.reopen() }
            }
        }
    }
}
