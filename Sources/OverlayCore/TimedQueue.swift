/// Elements in time order, as a binary min-heap: what comes due first comes out first, and
/// elements due at the same time come out in the order they went in. The event queue of the
/// simulations and of the link emulator's deliveries.
public struct TimedQueue<Time: Comparable, Element> {
    /// A struct, not a tuple, compared field by field: an unspecialized (debug-built) generic
    /// tuple looks up its type's metadata at every use and comparison, and that was a fifth of
    /// a debug-built simulation's time.
    fileprivate struct Entry {
        var time: Time
        var order: Int
        var element: Element
    }

    private var heap: [Entry] = []
    private var added = 0

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }

    /// The element due first, and when.
    public var first: (time: Time, element: Element)? { heap.first.map { ($0.time, $0.element) } }

    public mutating func insert(_ element: Element, at time: Time) {
        heap.append(Entry(time: time, order: added, element: element))
        added += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard earlier(child, than: parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the element due first.
    public mutating func popFirst() -> (time: Time, element: Element)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, earlier(left, than: smallest) { smallest = left }
            if right < heap.count, earlier(right, than: smallest) { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.element)
    }

    private func earlier(_ a: Int, than b: Int) -> Bool {
        let (first, second) = (heap[a].time, heap[b].time)
        return first < second || (first == second && heap[a].order < heap[b].order)
    }
}

extension TimedQueue: Sendable where Time: Sendable, Element: Sendable {}
extension TimedQueue.Entry: Sendable where Time: Sendable, Element: Sendable {}
