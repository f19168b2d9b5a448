import CGlibcMalloc

/// glibc hands each new thread that allocates an arena of its own, up to eight per core, and keeps what is freed
/// in an arena for that arena. TierCache's threads (event loops, database pool, hiredis, Dispatch) free into each
/// other's arenas, so freed memory spread over a dozen arenas and RSS crept up in the soak (bench/soak.py,
/// 12 minutes: +3.1 MB anonymous with glibc's default, +1.1 MB with two arenas). As many arenas as event loops
/// (the threads that allocate on the hot path) bounds that; past the cap, threads share arenas in turn.
enum MallocArenas {
    /// Caps the arenas at `eventLoops` (at least 2) unless the operator set `MALLOC_ARENA_MAX` or the
    /// `glibc.malloc.arena_max` tunable, which win. Returns the cap set, or nil when none was (theirs, or not glibc).
    static func limit(eventLoops: Int) -> Int? {
        if Environment.value("MALLOC_ARENA_MAX") != nil { return nil }
        if let tunables = Environment.value("GLIBC_TUNABLES"), tunables.contains("arena_max") { return nil }
        let count = max(2, eventLoops)
        return tiercache_malloc_limit_arenas(Int32(clamping: count)) == 1 ? count : nil
    }
}
