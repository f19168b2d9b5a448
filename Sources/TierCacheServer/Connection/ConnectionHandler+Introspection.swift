#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import NIOCore
import TierCacheCache
import TierCacheProtocol
import TierCacheSupport

/// Read-only introspection that Redis tools send (`redis-cli --scan`, `--bigkeys`, monitoring), answered over what
/// TierCache has: the keys it has cached in L1. Honest about being a cache: `DBSIZE` counts cached entries, not the
/// database's rows, and `TTL` is the cached entry's remaining life (-2 when the key is not cached).
extension ConnectionHandler {
    /// `DBSIZE`: entries in L1.
    func dbsize() -> Bool {
        out.writeRESPInteger(proxy.l1.snapshot().total.entries)
        return true
    }

    /// `TIME`: [seconds, microseconds] since the Unix epoch, as bulk strings.
    func time() -> Bool {
        let microseconds = clock.wallClockMicroseconds()
        out.writeRESPArrayHeader(count: 2)
        out.writeRESPBulkString(String(microseconds / 1_000_000))
        out.writeRESPBulkString(String(microseconds % 1_000_000))
        return true
    }

    /// `TTL key` / `PTTL key`: the cached entry's remaining life (milliseconds, or seconds rounded to the nearest as
    /// Redis rounds them), -2 when L1 holds no value for the key (it may still be in the database: ask with `GET`).
    /// A cached "no row" is no key, as for `SCAN`.
    func ttl(started: UInt64, milliseconds: Bool) -> Bool {
        var remaining: UInt64?
        let policy = self.policy
        if !isQueryKey(arguments[1]) {
            _ = proxy.l1.lookup(arguments[1], now: started) { info, resp2, _ in
                // False drops the entry (as a stale one is dropped); a cached "no row" stays, without a TTL.
                guard policy.keyedEntryIsFresh(info) else { return false }
                if !ResultEncoding.isNull(resp2) { remaining = info.expiresAt &- started }
                return true
            }
        }
        guard let remaining else {
            out.writeRESPInteger(-2)
            return true
        }
        let remainingMilliseconds = Int(remaining / 1_000_000)
        out.writeRESPInteger(milliseconds ? remainingMilliseconds : (remainingMilliseconds + 500) / 1000)
        return true
    }

    /// What `TYPE`, `STRLEN` and `HLEN` say of a key's value.
    enum ValueFact {
        case type, stringLength, hashLength

        /// The reply, from the value's RESP2 encoding (`$-1` for no row; `$n` one column; `*2n` n columns).
        func reply(_ resp2: UnsafeRawBufferPointer, into out: inout ByteBuffer) {
            let first = resp2.first ?? 0
            let isNull = ResultEncoding.isNull(resp2)
            switch self {
            case .type:
                out.writeRESPSimpleString(isNull ? "none" : ConnectionHandler.typeName(first))
            case .stringLength, .hashLength:
                // The header's number: `$12\r\n…` or `*4\r\n…` (field/value pairs).
                let wanted = self == .stringLength ? UInt8(ascii: "$") : UInt8(ascii: "*")
                var number = 0
                if !isNull, first == wanted {
                    for byte in resp2.dropFirst() {
                        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
                        number = number * 10 + Int(byte - UInt8(ascii: "0"))
                    }
                }
                out.writeRESPInteger(self == .hashLength ? number / 2 : number)
            }
        }
    }

    /// `TYPE key` (`string` for a one-column type's value, `hash` for several columns, `none` for no row or a key
    /// of no type), `STRLEN key` and `HLEN key` (0 for no row, or for the other shape, where Redis would say
    /// WRONGTYPE): the value is read as `GET` would read it (L1, then L2 and the database).
    func valueFact(_ fact: ValueFact, command: CommandKind, started: UInt64, context: ChannelHandlerContext) -> Bool {
        let key = arguments[1]
        var answered = false
        if !isQueryKey(key) {
            _ = proxy.l1.lookup(key, now: started) { [policy] info, resp2, _ in
                guard policy.keyedEntryIsFresh(info) else { return false }
                fact.reply(resp2, into: &out)
                answered = true
                return true
            }
        }
        if answered { return true }
        guard !isQueryKey(key), let read = ReadPath.keyRead(key, in: policy) else {
            ResultEncoding.nullReply.resp2.withUnsafeReadableBytes { fact.reply($0, into: &out) }
            return true
        }
        let reply = proxy.reads.read(read, on: context.eventLoop).map { loaded in
            var reply = ByteBuffer()
            loaded.reply.resp2.withUnsafeReadableBytes { fact.reply($0, into: &reply) }
            return reply
        }
        awaitReply(reply, command: command, started: started, context: context)
        return false
    }

    /// Longest glob pattern: a pattern becomes an array of elements before matching, so its size is bounded.
    static let maxPatternLength = 4096

    /// The pattern, or nil after writing the error for one too long.
    private func globPattern(_ argument: ByteBuffer) -> GlobPattern? {
        guard argument.readableBytes <= Self.maxPatternLength else {
            writeError(ProxyError(.generic, "pattern too long: at most \(Self.maxPatternLength) bytes"))
            return nil
        }
        return GlobPattern(argument.readableBytesView)
    }

    fileprivate static func typeName(_ firstByte: UInt8) -> String {
        switch firstByte {
        case UInt8(ascii: "$"): "string"
        case UInt8(ascii: "*"), UInt8(ascii: "%"): "hash"
        default: "none"
        }
    }

    /// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE string|hash]` over L1's keys: about `COUNT` (10) entries' worth
    /// of work per call, whatever L1 holds; the cursor goes on where the last call stopped, and 0 ends the scan.
    func scan(started: UInt64) -> Bool {
        guard let cursorText = text(arguments[1]), let cursor = UInt64(cursorText) else {
            writeError(ProxyError(.generic, "invalid cursor"))
            return true
        }
        var pattern: GlobPattern?
        var count = 10
        var wantedKind: String?
        var index = 2
        while index < arguments.count {
            guard index + 1 < arguments.count else {
                writeError(ProxyError(.generic, "syntax error"))
                return true
            }
            if argument(index, is: "MATCH") {
                guard let parsed = globPattern(arguments[index + 1]) else { return true }
                pattern = parsed
            } else if argument(index, is: "COUNT") {
                guard let value = text(arguments[index + 1]).flatMap({ Int($0) }), value > 0 else {
                    writeError(ProxyError(.generic, "value is out of range, must be positive"))
                    return true
                }
                count = min(value, 100_000)
            } else if argument(index, is: "TYPE") {
                wantedKind = text(arguments[index + 1])?.lowercased()
            } else {
                writeError(ProxyError(.generic, "syntax error"))
                return true
            }
            index += 2
        }
        let (keys, next) = proxy.l1.scan(cursor: cursor, count: count, now: started)
        let selected = keys.filter { found in
            (pattern?.matches(found.key) ?? true) && (wantedKind.map { Self.typeName(found.kind) == $0 } ?? true)
                && mayList(found.key)
        }
        out.writeRESPArrayHeader(count: 2)
        out.writeRESPBulkString(String(next))
        out.writeRESPArrayHeader(count: selected.count)
        for found in selected { out.writeRESPBulkString(found.key) }
        return true
    }

    /// Whether SCAN and KEYS show `key` to this user: every key, or for a user limited to some types, keys of those.
    private func mayList(_ key: [UInt8]) -> Bool {
        guard access.groups != nil else { return true }
        guard let routed = policy.route(ByteBuffer(bytes: key)) else { return false }
        return access.mayAccess(group: routed.type.group)
    }

    /// `KEYS pattern`: every key in L1 that matches. Like Redis' own, it visits everything at once: prefer `SCAN`.
    func keys(started: UInt64) -> Bool {
        guard let pattern = globPattern(arguments[1]) else { return true }
        var matched: [[UInt8]] = []
        var cursor: UInt64 = 0
        repeat {
            let step = proxy.l1.scan(cursor: cursor, count: 4096, now: started)
            matched += step.keys.lazy.filter { pattern.matches($0.key) && self.mayList($0.key) }.map(\.key)
            cursor = step.next
        } while cursor != 0
        out.writeRESPArrayHeader(count: matched.count)
        for key in matched { out.writeRESPBulkString(key) }
        return true
    }
}
