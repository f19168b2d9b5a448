import CGlibcMalloc

/// glibc gives each thread that allocates under contention an arena of its own, up to eight per core, and keeps
/// what is freed in an arena for that arena. TierCache's threads (event loops, database pool, hiredis, Dispatch)
/// free into each other's arenas, so freed memory spread over many arenas and RSS crept up in the soak (bench/
/// soak.py, 12 minutes: +3.1 MB anonymous with glibc's default, +1.1 MB with two arenas). One arena per event
/// loop keeps each loop its own (they do the allocating on the hot path) and bounds the rest.
enum MallocArenas {
    /// Caps the arenas at `eventLoops` (at least 2) unless the operator set `MALLOC_ARENA_MAX` or glibc tunables,
    /// which win. Returns the cap set, or nil when none was (theirs, or not glibc).
    static func limit(eventLoops: Int) -> Int? {
        if Environment.value("MALLOC_ARENA_MAX") != nil || Environment.value("GLIBC_TUNABLES") != nil { return nil }
        let count = max(2, eventLoops)
        return tiercache_malloc_limit_arenas(Int32(clamping: count)) == 1 ? count : nil
    }
}
