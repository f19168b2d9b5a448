#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Flags win over environment variables, which win over defaults; each flag has its `TIERCACHE_…` variable.
enum Environment {
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        let value = String(cString: raw)
        return value.isEmpty ? nil : value
    }

    static func resolve(_ flag: String?, _ variable: String, default fallback: String) -> String {
        flag ?? value(variable) ?? fallback
    }
}
