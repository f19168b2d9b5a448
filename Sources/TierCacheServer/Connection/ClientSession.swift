import TierCacheProtocol

/// What the proxy knows about one client connection.
struct ClientSession {
    let id: Int64
    var version: RESPVersion = .v2
    var isAuthenticated: Bool
    var name: String?

    init(id: Int64, requiresPassword: Bool) {
        self.id = id
        self.isAuthenticated = !requiresPassword
    }
}
