import Logging
import Synchronization

/// Commands refused because TierCache does not have them (unknown, or Redis commands it refuses on purpose), counted
/// by name, so an operator sees what clients try (`STATS commands.refused`, the 20 most tried) and each name is
/// logged once.
final class CommandRefusals: Sendable {
    /// Names kept at most; past this, new names are counted under `other` (a client sending random names must not
    /// grow this without bound).
    static let maxNames = 256

    private let counts = Mutex<[String: Int]>([:])

    /// Counts one refusal of `name` (upper-cased); true the first time the name is seen.
    func record(_ name: String) -> Bool {
        counts.withLock { counts in
            let key = counts[name] != nil || counts.count < Self.maxNames ? name : "other"
            let first = counts[key] == nil
            counts[key, default: 0] += 1
            return first
        }
    }

    /// The most refused names, most first.
    func top(_ limit: Int) -> [(String, Int)] {
        counts.withLock { counts in
            counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(limit).map {
                ($0.key, $0.value)
            }
        }
    }
}

/// The reply to a command TierCache does not have.
extension ConnectionHandler {
    /// Redis' wording, so clients and people recognise it; a Redis command TierCache refuses on purpose gets the
    /// reason instead. Counted by name, logged once per name.
    func unknownCommand() {
        let name = printable(arguments[0]).uppercased()
        if proxy.refusals.record(name) {
            logger.notice("refused a command TierCache does not have", metadata: ["command": "\(name)"])
        }
        if let reason = Self.refusedOnPurpose[name] {
            writeError(ProxyError(.generic, "\(name) is not supported: \(reason)"))
            return
        }
        var message = "unknown command '\(printable(arguments[0]))', with args beginning with:"
        for argument in arguments.dropFirst().prefix(8) {
            message += " '\(printable(argument))'"
        }
        writeError(ProxyError(.generic, message))
    }

    /// Redis commands that would mean something else here, with the reason they are refused.
    static let refusedOnPurpose: [String: String] = {
        let expiry = "an entry's life comes from its data type's policy (ttl in ttl-policies/), not from clients"
        return [
            "EXPIRE": expiry, "PEXPIRE": expiry, "EXPIREAT": expiry, "PEXPIREAT": expiry, "PERSIST": expiry,
            "GETEX": expiry, "SETEX": expiry + "; use SET key value", "PSETEX": expiry + "; use SET key value",
            "FLUSHALL": "TierCache caches a database, whose rows it does not delete; entries expire by their TTL",
            "FLUSHDB": "TierCache caches a database, whose rows it does not delete; entries expire by their TTL",
        ]
    }()
}
