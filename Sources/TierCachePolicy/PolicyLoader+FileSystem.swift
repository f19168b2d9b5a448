#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension PolicyLoader {
    /// One policy file's name, as error locations show it, and its text.
    struct Source {
        var file: String
        var text: String
    }

    /// The policy files at `path` with their text, and the problems met reading them.
    static func sources(at path: String) -> (sources: [Source], errors: [PolicyError]) {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: path) else {
            return ([], [PolicyError(.unreadable, at: .start(of: path), "no such file or directory")])
        }
        guard isDirectory(path) else {
            return read(file: path)
        }

        let names: [String]
        do {
            names = try fileManager.contentsOfDirectory(atPath: path)
        } catch {
            return ([], [PolicyError(.unreadable, at: .start(of: path), "cannot list directory: \(reason(path))")])
        }
        let files =
            names
            .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
            .sorted()
            .map { join(path, $0) }
            .filter { file in fileManager.fileExists(atPath: file) && !isDirectory(file) }
        guard !files.isEmpty else {
            let message = "no policy files in \(path) (expected *.yaml or *.yml)"
            return ([], [PolicyError(.noPolicyFiles, at: .start(of: path), message)])
        }
        var sources: [Source] = []
        var errors: [PolicyError] = []
        for file in files {
            let (read, readErrors) = read(file: file)
            sources += read
            errors += readErrors
        }
        return (sources, errors)
    }

    private static func read(file: String) -> (sources: [Source], errors: [PolicyError]) {
        guard let data = FileManager.default.contents(atPath: file) else {
            return ([], [PolicyError(.unreadable, at: .start(of: file), "cannot read file: \(reason(file))")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return ([], [PolicyError(.unreadable, at: .start(of: file), "cannot read file: not valid UTF-8")])
        }
        return ([Source(file: file, text: text)], [])
    }

    /// The likely cause of a failed read, in the same words on every platform.
    private static func reason(_ path: String) -> String {
        FileManager.default.isReadableFile(atPath: path) ? "I/O error" : "permission denied"
    }

    /// `dir/name`, without doubling a slash the operator typed.
    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Whether `path` is a directory, following symlinks (a ConfigMap mount is symlinks into `..data`).
    private static func isDirectory(_ path: String) -> Bool {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) != nil
    }
}
