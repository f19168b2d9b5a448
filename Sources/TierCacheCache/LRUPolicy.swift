/// Least-recently-used order as an intrusive doubly linked list over slot numbers.
///
/// A slot's two links sit side by side in one array, so an access touches one cache line per node it relinks,
/// and allocates nothing.
public struct LRUPolicy: EvictionPolicy {
    private struct Link {
        var previous: Int32
        var next: Int32
    }

    private var links: [Link] = []
    /// Most recently used.
    private var head: Int32 = -1
    /// Least recently used: the victim.
    private var tail: Int32 = -1

    public init() {}

    public mutating func inserted(_ slot: Int32) {
        let index = Int(slot)
        while links.count <= index { links.append(Link(previous: -1, next: -1)) }
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
        links[Int(slot)] = Link(previous: -1, next: head)
        if head >= 0 { links[Int(head)].previous = slot }
        head = slot
        if tail < 0 { tail = slot }
    }

    private mutating func unlink(_ slot: Int32) {
        let link = links[Int(slot)]
        if link.previous >= 0 { links[Int(link.previous)].next = link.next } else { head = link.next }
        if link.next >= 0 { links[Int(link.next)].previous = link.previous } else { tail = link.previous }
        links[Int(slot)] = Link(previous: -1, next: -1)
    }
}
