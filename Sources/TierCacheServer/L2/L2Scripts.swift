/// The Lua scripts that make writes and fills atomic inside Redis. Sent with EVAL each time: they are short, and
/// EVAL keeps working across a Redis restart or SCRIPT FLUSH where EVALSHA would need a retry.
enum L2Scripts {
    /// A committed write: number it, record the number for every affected type and table, drop the written keys'
    /// entries and leave tombstones, and publish what changed. One atomic step, so the number, the records and the
    /// message can't disagree, and messages are published in number order.
    ///
    /// A missing counter (a new deployment, or Redis lost its data: restart, FLUSHALL, eviction) starts at Redis'
    /// clock in microseconds, not 0, so numbers never go backwards: entries stamped before the loss stay older
    /// than every later write.
    ///
    /// KEYS: seq, writes, then (entry key, tombstone key) per written key.
    /// ARGV: channel, tombstone PX, message body, field count N, N fields of `writes`.
    /// Returns the write number.
    static let invalidate = """
        if redis.call('EXISTS', KEYS[1]) == 0 then
          local t = redis.call('TIME')
          redis.call('SET', KEYS[1], string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])))
        end
        local w = redis.call('INCR', KEYS[1])
        -- As text: Lua would print a number this large as 1.79e+15.
        local ws = string.format('%.0f', w)
        local n = tonumber(ARGV[4])
        for i = 1, n do redis.call('HSET', KEYS[2], ARGV[4 + i], ws) end
        for i = 3, #KEYS, 2 do
          redis.call('DEL', KEYS[i])
          redis.call('SET', KEYS[i + 1], ws, 'PX', ARGV[2])
        end
        redis.call('PUBLISH', ARGV[1], ws .. ':' .. ARGV[3])
        return w
        """

    /// A keyed fill: store the entry unless the key was written after the load began (its tombstone holds a
    /// higher write number than the load's).
    ///
    /// KEYS: entry key, tombstone key. ARGV: entry bytes, PX, the load's write number.
    /// Returns 1 when stored, 0 when refused.
    static let fillKeyed = """
        local t = redis.call('GET', KEYS[2])
        if t and tonumber(t) > tonumber(ARGV[3]) then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """
}
