import NIOCore

/// `SET key value [NX|XX] [GET] [KEEPTTL]`: the options a write-through cache can give Redis' meaning. `NX` and
/// `XX` write only when the key's row is absent or present, `GET` answers the value the row had, each decided in one
/// database transaction with the write; `KEEPTTL` asks for nothing here (lives come from the policy). The expiry
/// options (`EX`, `PX`, `EXAT`, `PXAT`) are refused: in Redis the key disappears when it expires, and here the row
/// stays in the database, so they can't mean what they mean in Redis.
struct SetOptions: Sendable, Equatable {
    enum Condition: Sendable, Equatable {
        case ifAbsent, ifPresent
    }

    var condition: Condition?
    var returnsOld = false

    /// Whether the write must read the row first.
    var needsTransaction: Bool { condition != nil || returnsOld }

    /// Parses the options after the value; `argument(i, is:)` compares argument `i` (counted from the command
    /// name) with a word, ignoring case.
    static func parse(
        _ options: ArraySlice<ByteBuffer>,
        argument: (Int, StaticString) -> Bool
    ) -> Result<SetOptions, ProxyError> {
        var parsed = SetOptions()
        for index in options.indices {
            if argument(index, "NX") || argument(index, "XX") {
                let condition: Condition = argument(index, "NX") ? .ifAbsent : .ifPresent
                guard parsed.condition == nil || parsed.condition == condition else {
                    return .failure(ProxyError(.generic, "syntax error"))
                }
                parsed.condition = condition
            } else if argument(index, "GET") {
                parsed.returnsOld = true
            } else if argument(index, "KEEPTTL") {
                continue
            } else if argument(index, "EX") || argument(index, "PX") || argument(index, "EXAT")
                || argument(index, "PXAT")
            {
                return .failure(
                    ProxyError(
                        .wrongArguments,
                        "SET's expiry options (EX, PX, EXAT, PXAT) are not supported: an entry's life comes from its "
                            + "data type's policy, and the row stays in the database; use SET key value"))
            } else {
                return .failure(ProxyError(.generic, "syntax error"))
            }
        }
        return .success(parsed)
    }
}
