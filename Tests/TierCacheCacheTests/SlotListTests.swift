import Testing

@testable import TierCacheCache

@Suite("Slot lists")
struct SlotListTests {
    @Test("moving a slot to the back keeps the order of the rest; any move unmarks, the back's too")
    func moveToBackAndMarks() {
        var lists = SlotList(regions: 2)
        for slot: Int32 in 0..<4 { lists.append(slot, to: 0) }
        lists.append(9, to: 1)
        lists.markAll(in: 0)
        #expect((0..<4).allSatisfy { lists.isMarked(Int32($0)) })
        #expect(!lists.isMarked(9), "another region's slots are not marked")

        lists.moveToBack(3)  // already the back: stays there, unmarked
        #expect(!lists.isMarked(3))
        lists.moveToBack(1)
        lists.moveToBack(3)
        var order: [Int32] = []
        var slot = lists.first(of: 0)
        while let current = slot {
            order.append(current)
            slot = lists.next(after: current)
        }
        #expect(order == [0, 2, 1, 3])
        #expect(lists.isMarked(0) && lists.isMarked(2))
        #expect(!lists.isMarked(1) && !lists.isMarked(3))
        #expect(lists.region(of: 2) == 0, "the mark does not change the region")

        lists.move(0, to: 1)
        #expect(!lists.isMarked(0) && lists.region(of: 0) == 1)
    }
}
