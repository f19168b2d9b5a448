/// Least-recently-used order as an intrusive doubly linked list over slot numbers.
///
/// Links live in two arrays indexed by slot, so an access is two array writes and no allocation.
public struct LRUPolicy: EvictionPolicy {
    private var previous: [Int32] = []
    private var next: [Int32] = []
    /// Most recently used.
    private var head: Int32 = -1
    /// Least recently used: the victim.
    private var tail: Int32 = -1

    public init() {}

    public mutating func inserted(_ slot: Int32) {
        let index = Int(slot)
        while previous.count <= index {
            previous.append(-1)
            next.append(-1)
        }
        pushFront(slot)
    }

    public mutating func accessed(_ slot: Int32) {
        guard slot != head else { return }
        unlink(slot)
        pushFront(slot)
    }

    public mutating func removed(_ slot: Int32) {
        unlink(slot)
    }

    public func victim() -> Int32? {
        tail >= 0 ? tail : nil
    }

    private mutating func pushFront(_ slot: Int32) {
        let index = Int(slot)
        previous[index] = -1
        next[index] = head
        if head >= 0 { previous[Int(head)] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }

    private mutating func unlink(_ slot: Int32) {
        let index = Int(slot)
        let before = previous[index]
        let after = next[index]
        if before >= 0 { next[Int(before)] = after } else { head = after }
        if after >= 0 { previous[Int(after)] = before } else { tail = before }
        previous[index] = -1
        next[index] = -1
    }
}
