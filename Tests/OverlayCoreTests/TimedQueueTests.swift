import Testing

@testable import OverlayCore

/// The event queue of the simulations and the link emulator: due order, and insertion order
/// among equal times.
@Suite struct TimedQueueTests {
    @Test(arguments: [1, 2, 3, 42])
    func elementsComeOutByTimeThenByInsertion(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var queue = TimedQueue<Int, Int>()
        var inserted: [(time: Int, element: Int)] = []
        for element in 0..<2000 {
            // Few distinct times, so many elements share one.
            let time = Int(random.next() % 50)
            queue.insert(element, at: time)
            inserted.append((time, element))
            // Interleave removals with insertions, as a simulation does.
            if random.next() % 4 == 0, let popped = queue.popFirst() {
                let expected = inserted.enumerated().min {
                    ($0.element.time, $0.offset) < ($1.element.time, $1.offset)
                }!
                #expect(popped.time == expected.element.time && popped.element == expected.element.element)
                inserted.remove(at: expected.offset)
            }
        }
        #expect(queue.count == inserted.count)
        let expected = inserted.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
        var drained: [Int] = []
        while let next = queue.popFirst() { drained.append(next.element) }
        #expect(drained == expected.map(\.element.element))
        #expect(queue.isEmpty && queue.first == nil && queue.popFirst() == nil)
    }
}
