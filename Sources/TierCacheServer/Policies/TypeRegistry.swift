import Synchronization
import TierCacheStats

/// What a data type keeps across policy reloads: its accounting group (the number its L1 entries carry), its
/// counters, and the stamp that writes raise to invalidate all of its entries at once.
public final class TypeSlot: Sendable {
    public let name: String
    public let group: Int32
    public let counters: TypeCounters
    public let stamp = InvalidationStamp()

    init(name: String, group: Int32) {
        self.name = name
        self.group = group
        self.counters = TypeCounters(name: name)
    }
}

/// Hands out one `TypeSlot` per type name for the life of the process, so a reload that keeps a type keeps its
/// entries, counts and write stamp, and a type removed and added back gets its old group again (its entries were
/// dropped when it went). Group 0 is the default policy's.
public final class TypeRegistry: Sendable {
    /// L1 entries carry their group in 16 bits; far more than any policy needs.
    public static let capacity = 4096

    public let defaultSlot = TypeSlot(name: "default", group: 0)
    private let slots = Mutex<[String: TypeSlot]>([:])

    public init() {}

    /// The slot of `name`, created on first use. Nil once `capacity` names have been seen.
    public func slot(for name: String) -> TypeSlot? {
        slots.withLock { slots in
            if let slot = slots[name] { return slot }
            guard slots.count + 1 < Self.capacity else { return nil }
            let slot = TypeSlot(name: name, group: Int32(slots.count + 1))
            slots[name] = slot
            return slot
        }
    }
}
