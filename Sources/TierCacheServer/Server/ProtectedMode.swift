import NIOCore

/// Redis' protected mode: with no password set, only clients on this machine (loopback, unix sockets) are
/// served; others get Redis' `-DENIED` explanation (the admin listener a 403 with the same words) and are closed.
/// `--protected-mode no` turns it off; a password for `default` (`--requirepass`, or a users file, which makes
/// every client AUTH unless it gives `default` `nopass`) makes it moot.
enum ProtectedMode {
    /// Whether a client at `remote` is refused under `configuration`.
    static func refuses(_ remote: SocketAddress?, _ configuration: ServerConfiguration, users: UserDirectory) -> Bool {
        guard configuration.protectedMode, users.isOpen else { return false }
        return !isLocal(remote)
    }

    /// Loopback (127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6) or a unix socket.
    static func isLocal(_ address: SocketAddress?) -> Bool {
        switch address {
        case .unixDomainSocket?: return true
        case .v4?: return address?.ipAddress?.hasPrefix("127.") == true
        case .v6?:
            guard let text = address?.ipAddress?.lowercased() else { return false }
            return text == "::1" || text.hasPrefix("::ffff:127.")
        case nil: return false
        }
    }

    /// Redis' `-DENIED` error, for TierCache's options.
    static let message = "DENIED " + explanation

    /// The words of it (the admin listener's 403 says them without Redis' error code).
    static let explanation =
        "TierCache is running in protected mode because protected mode is enabled and no password is set for "
        + "the default user. In this mode connections are only accepted from the loopback interface. If you want to "
        + "connect from external computers to TierCache you may adopt one of the following solutions: 1) Set a "
        + "password: restart TierCache with --requirepass (or TIERCACHE_REQUIREPASS), and have clients AUTH. 2) If you "
        + "started TierCache just for testing, restart it with the '--protected-mode no' option (or "
        + "TIERCACHE_PROTECTED_MODE=no), and MAKE SURE it is not publicly accessible from internet if you do so. "
        + "NOTE: You only need to do one of the above things in order for the server to start accepting connections "
        + "from the outside."
}
