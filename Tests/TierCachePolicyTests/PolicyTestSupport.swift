import Foundation
import TierCachePolicy

/// The lines a file's errors print as, or `[]` when it parses.
func errorLines(_ yaml: String, file: String = "t.yaml") -> [String] {
    switch PolicyLoader.parse(yaml: yaml, file: file) {
    case .success: []
    case .failure(let error): error.errors.map(\.description)
    }
}

/// The file's errors as values, for checks on codes.
func errors(_ yaml: String, file: String = "t.yaml") -> [PolicyError] {
    switch PolicyLoader.parse(yaml: yaml, file: file) {
    case .success: []
    case .failure(let error): error.errors
    }
}

/// The lines `PolicyLoader.load(path:)` throws, or `[]` when it loads.
func loadErrorLines(_ path: String) -> [String] {
    do {
        _ = try PolicyLoader.load(path: path)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// A directory of its own under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("tiercache-policy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
