import TierCachePolicy

/// A policy file as an operator (or a broken editor) could leave it: any bytes, parsed; every error must be a
/// `file:line:column` message, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    switch PolicyLoader.parse(yaml: text, file: "fuzz.yaml") {
    case .success(let file): _ = file.types.count + file.alerts.count
    case .failure(let error): _ = error.errors.map(\.description).joined().count
    }
    return 0
}
