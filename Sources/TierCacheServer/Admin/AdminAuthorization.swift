import NIOHTTP1
import TierCachePolicy
import TierCacheSupport

/// Who may read the admin routes (the probes need no one): a user with the `admin` category, given as HTTP basic
/// authentication (`user:password`; an empty user is `default`, as in Redis) or, for `default`, as a bearer token
/// holding its password. When `default` needs no password and has `admin` (no `--requirepass`, no users file),
/// anyone may.
struct AdminAuthorization {
    let users: UserDirectory

    enum Verdict: Equatable {
        case allowed
        /// No credentials, or wrong ones: 401 with the challenge.
        case unauthorized
        /// A user who may not read the admin routes: 403.
        case forbidden(user: String)
    }

    func verdict(_ headers: HTTPHeaders) -> Verdict {
        guard let value = headers.first(name: "authorization") else {
            return users.initialUser?.categories.contains(.admin) == true ? .allowed : .unauthorized
        }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return .unauthorized }
        let name: String
        let password: [UInt8]
        switch parts[0].lowercased() {
        case "bearer":
            name = "default"
            password = Array(parts[1].utf8)
        case "basic":
            guard let decoded = Base64.decode(parts[1].drop { $0 == " " }),
                let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
            else { return .unauthorized }
            let user = decoded[..<colon]
            name = user.isEmpty ? "default" : String(decoding: user, as: UTF8.self)
            password = Array(decoded[(colon + 1)...])
        default:
            return .unauthorized
        }
        guard let user = users.user(named: name), user.accepts(password: password) else { return .unauthorized }
        return user.categories.contains(.admin) ? .allowed : .forbidden(user: user.name)
    }

    /// The challenge of a 401: basic, so a browser asks for the password.
    static let challenge = "Basic realm=\"tiercache\", charset=\"UTF-8\""
}
