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
    ///
    /// A directory's file must resolve (through any symlinks) to a path inside the directory's own real path: a
    /// ConfigMap's `x.yaml -> ..data/x.yaml` is read, a link that leads elsewhere is refused unread. The path
    /// itself may be a symlink, to a directory or a file: that is the operator's choice.
    static func sources(at path: String) -> (sources: [Source], errors: [PolicyError]) {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: path) else {
            return ([], [PolicyError(.unreadable, at: .start(of: path), "no such file or directory")])
        }
        guard isDirectory(path) else {
            return readSource(path, confinedTo: nil)
        }

        let names: [String]
        do {
            names = try fileManager.contentsOfDirectory(atPath: path)
        } catch {
            return ([], [PolicyError(.unreadable, at: .start(of: path), "cannot list directory: \(reason(path))")])
        }
        guard let directory = realPath(path) else {
            return ([], [PolicyError(.unreadable, at: .start(of: path), "cannot list directory: \(reason(path))")])
        }
        var files: [String] = []
        var errors: [PolicyError] = []
        for name in names.sorted() where !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml")) {
            let file = join(path, name)
            // A dangling link, or an entry gone since the listing, is no policy file.
            guard let real = realPath(file) else { continue }
            guard isInside(real, directory) else {
                errors.append(PolicyError(.unreadable, at: .start(of: file), outsideMessage(file)))
                continue
            }
            if !isDirectory(real) { files.append(file) }
        }
        guard !files.isEmpty || !errors.isEmpty else {
            let message = "no policy files in \(path) (expected *.yaml or *.yml)"
            return ([], [PolicyError(.noPolicyFiles, at: .start(of: path), message)])
        }
        var sources: [Source] = []
        for file in files {
            let (read, readErrors) = readSource(file, confinedTo: directory)
            sources += read
            errors += readErrors
        }
        return (sources, errors)
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
