import NIOHTTP1
import TierCacheSupport

/// Who may read the admin routes: with `--requirepass`, a request carries the password as HTTP basic
/// authentication (user `default` or empty, as Redis' default user) or as a bearer token; the probes need none.
struct AdminAuthorization {
    let password: String?

    /// Whether `headers` carry the password (always, without one).
    func allows(_ headers: HTTPHeaders) -> Bool {
        guard let password else { return true }
        guard let value = headers.first(name: "authorization") else { return false }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return false }
        switch parts[0].lowercased() {
        case "bearer":
            return ConstantTime.equal(parts[1].utf8, password.utf8)
        case "basic":
            guard let decoded = Base64.decode(parts[1].drop { $0 == " " }),
                let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
            else { return false }
            let user = decoded[..<colon]
            let given = decoded[(colon + 1)...]
            let userIsDefault = user.isEmpty || user.elementsEqual("default".utf8)
            return ConstantTime.equal(given, password.utf8) && userIsDefault
        default:
            return false
        }
    }

    /// The challenge of a 401: basic, so a browser asks for the password.
    static let challenge = "Basic realm=\"tiercache\", charset=\"UTF-8\""
}
