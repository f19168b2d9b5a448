import Logging
import NIOCore
import TierCachePolicy
import TierCacheProtocol
import TierCacheStats

/// Users and permissions on a connection: who it is, what it may run and touch, and `ACL`.
extension ConnectionHandler {
    /// The connection is now `user` (nil: nobody, until it authenticates).
    func become(_ user: AccessUser?) {
        access = ConnectionAccess(user: user, policy: policy)
        if session.user != user?.name { session.user = user?.name }
    }

    /// The users file was reloaded: the connection's user is looked up again, so changed permissions apply from
    /// now on; a user removed or disabled leaves the connection unauthenticated (it must AUTH again).
    func refreshUser(_ version: UInt64) {
        usersVersion = version
        guard let name = access.user?.name else { return }
        if let user = proxy.users.user(named: name), user.enabled {
            become(user)
        } else {
            logger.info(
                "the connection's user was removed or disabled; it must AUTH again", metadata: ["user": "\(name)"])
            become(nil)
            resetToUnauthenticatedLimits()
        }
    }

    /// Answers a command the connection may not run: NOAUTH before authentication, NOPERM after (which also
    /// makes an open transaction's `EXEC` abort, as Redis does).
    func refuseUnpermitted(_ kind: CommandKind) {
        guard access.isAuthenticated else {
            proxy.stats.rejectedAuth.increment()
            writeError(ProxyError(.noAuth, "Authentication required."))
            return
        }
        proxy.stats.refusedPermission.increment()
        writeError(ProxyError.noPermission(toRun: kind))
        if session.transaction.isQueuing { refuseQueuedTransaction() }
    }

    /// For a user limited to some types, the refusal of the first key argument of a type it may not touch.
    func keyRefusal(_ kind: CommandKind) -> ProxyError? {
        let span = kind.keySpan
        guard span.step > 0 else { return nil }
        let last = span.last < 0 ? arguments.count + span.last : span.last
        var index = span.first
        while index <= last, index < arguments.count {
            if let refusal = access.refusal(forKey: arguments[index], policy: policy) {
                proxy.stats.refusedPermission.increment()
                return refusal
            }
            index += span.step
        }
        return nil
    }

    /// Whether the user has `admin` for a reporting subcommand (`CLIENT LIST`, `ACL LIST`); answers NOPERM if not.
    func requireAdmin(_ kind: CommandKind) -> Bool {
        guard access.has(.admin) else {
            proxy.stats.refusedPermission.increment()
            writeError(ProxyError.noPermission(toRun: kind))
            return false
        }
        return true
    }

    /// `ACL WHOAMI` (anyone), `ACL LIST` and `ACL USERS` (admin). Users change only through the users file, so the
    /// commands that would change them are refused before doing anything.
    func acl() -> Bool {
        if argument(1, is: "WHOAMI"), arguments.count == 2 {
            out.writeRESPBulkString(access.user?.name ?? "default")
        } else if argument(1, is: "USERS"), arguments.count == 2 {
            guard requireAdmin(.acl) else { return true }
            let users = proxy.users.all
            out.writeRESPArrayHeader(count: users.count)
            for user in users { out.writeRESPBulkString(user.name) }
        } else if argument(1, is: "LIST"), arguments.count == 2 {
            guard requireAdmin(.acl) else { return true }
            let users = proxy.users.all
            out.writeRESPArrayHeader(count: users.count)
            for user in users { out.writeRESPBulkString(user.aclLine) }
        } else {
            let file = proxy.users.file.map { " (\($0))" } ?? ""
            writeError(
                ProxyError(
                    .generic,
                    "ACL \(printable(arguments[1]).uppercased()) is not supported: TierCache's users are defined in "
                        + "the "
                        + "--users file\(file) and reloaded when it changes. Try ACL WHOAMI, ACL LIST or ACL USERS."))
        }
        return true
    }
}
