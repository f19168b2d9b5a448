/// A fast seeded 64-bit hash over key bytes.
///
/// Keys come from clients, so the seed is random per process to make collision flooding impractical.
/// It reads 8 bytes per step; keys are short, so this beats a byte-at-a-time hash by a wide margin.
struct KeyHash: Sendable {
    let seed: UInt64

    func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var state = seed ^ (UInt64(truncatingIfNeeded: bytes.count) &* 0x9E37_79B9_7F4A_7C15)
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            state = (state ^ word) &* 0xBF58_476D_1CE4_E5B9
            state ^= state >> 31
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count {
            tail |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        state = (state ^ tail) &* 0x94D0_49BB_1331_11EB
        state ^= state >> 29
        state = state &* 0xBF58_476D_1CE4_E5B9
        return state ^ (state >> 32)
    }
}
