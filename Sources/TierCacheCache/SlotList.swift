/// Doubly linked lists of slot numbers, one per region of a policy, sharing one array of links: a slot is in at
/// most one list. Front: the oldest (the next victim); back: the newest.
///
/// A slot's links sit side by side (8 bytes), its region in a byte array beside them, so relinking touches one
/// cache line per node, and nothing is allocated once the arrays have grown to the shard's slot count. The lists'
/// ends are inline (at most `maxRegions`), not arrays: writing an array checks that it is not shared, twice per
/// move on the hit path.
struct SlotList: Sendable {
    private struct Link {
        var previous: Int32
        var next: Int32
    }

    private static let nowhere = UInt8.max
    /// A region byte's high bit: the slot is marked (regions are numbered below 128).
    private static let mark: UInt8 = 0x80
    private typealias Ends = InlineArray<8, Int32>
    static let maxRegions = Ends.count

    private var links: [Link] = []
    private var regions: [UInt8] = []
    private var fronts = Ends(repeating: -1)
    private var backs = Ends(repeating: -1)

    init(regions count: Int) {
        precondition(count <= Self.maxRegions, "SlotList holds at most \(Self.maxRegions) regions")
    }

    /// The region `slot` is in, if any.
    @inline(__always)
    func region(of slot: Int32) -> Int? {
        let index = Int(slot)
        guard index < regions.count, regions[index] != Self.nowhere else { return nil }
        return Int(regions[index] & ~Self.mark)
    }

    /// Whether `slot` was marked by `markAll` and has not moved since.
    func isMarked(_ slot: Int32) -> Bool {
        let index = Int(slot)
        return index < regions.count && regions[index] != Self.nowhere && regions[index] & Self.mark != 0
    }

    /// Marks every slot of `region`; moving a slot (to the back, or to a region) unmarks it.
    mutating func markAll(in region: Int) {
        var slot = fronts[region]
        while slot >= 0 {
            regions[Int(slot)] |= Self.mark
            slot = links[Int(slot)].next
        }
    }

    /// The oldest slot of `region`.
    @inline(__always)
    func first(of region: Int) -> Int32? {
        let slot = fronts[region]
        return slot >= 0 ? slot : nil
    }

    /// The slot after `slot` in its region (toward the newest).
    func next(after slot: Int32) -> Int32? {
        let next = links[Int(slot)].next
        return next >= 0 ? next : nil
    }

    /// Puts `slot`, in no region now, at the back of `region`.
    mutating func append(_ slot: Int32, to region: Int) {
        let index = Int(slot)
        while links.count <= index {
            links.append(Link(previous: -1, next: -1))
            regions.append(Self.nowhere)
        }
        let back = backs[region]
        links[index] = Link(previous: back, next: -1)
        if back >= 0 { links[Int(back)].next = slot } else { fronts[region] = slot }
        backs[region] = slot
        regions[index] = UInt8(region)
    }

    /// Takes `slot` out of its region.
    mutating func remove(_ slot: Int32) {
        guard let region = region(of: slot) else { return }
        let index = Int(slot)
        let link = links[index]
        if link.previous >= 0 { links[Int(link.previous)].next = link.next } else { fronts[region] = link.next }
        if link.next >= 0 { links[Int(link.next)].previous = link.previous } else { backs[region] = link.previous }
        links[index] = Link(previous: -1, next: -1)
        regions[index] = Self.nowhere
    }

    /// Moves `slot` to the back of its own region: the hit path's move, relinking in place (its region stays).
    @inline(__always)
    mutating func moveToBack(_ slot: Int32) {
        guard let region = region(of: slot) else { return }
        let index = Int(slot)
        // Unmarked even when it is the back already: it was read.
        if regions[index] & Self.mark != 0 { regions[index] &= ~Self.mark }
        let back = backs[region]
        guard back != slot else { return }
        // Not the back, so there is a next; the front may change.
        let link = links[index]
        if link.previous >= 0 { links[Int(link.previous)].next = link.next } else { fronts[region] = link.next }
        links[Int(link.next)].previous = link.previous
        links[index] = Link(previous: back, next: -1)
        links[Int(back)].next = slot
        backs[region] = slot
    }

    /// Moves `slot` to the back of `region`.
    mutating func move(_ slot: Int32, to region: Int) {
        remove(slot)
        append(slot, to: region)
    }
}
