/// The frame of a stream whose payload does not say how much media it holds: the most common
/// timestamp step between consecutive packets among the last `window` steps (ties go to the
/// value seen most recently). One odd step, or a codec changing its frame length mid-call,
/// moves it only once the new length is the most common.
struct FrameEstimator {
    static let window = 16
    /// The last steps, oldest first.
    private var steps: [Int64] = []
    /// The current estimate; nil before the first step.
    private(set) var frame: Int64?

    /// A timestamp step between two consecutive sequence numbers (positive).
    mutating func add(step: Int64) {
        steps.append(step)
        if steps.count > Self.window { steps.removeFirst() }
        // Adding the current mode keeps it the mode: its count grows or stays the largest, and
        // it is now the most recent. Anything else may change it.
        guard step != frame else { return }
        var best = step
        var bestCount = 0
        // Newest first, so among equal counts the value seen most recently is met first.
        for index in steps.indices.reversed() where !steps[(index + 1)...].contains(steps[index]) {
            let count = steps.reduce(0) { $0 + ($1 == steps[index] ? 1 : 0) }
            if count > bestCount { (best, bestCount) = (steps[index], count) }
        }
        frame = best
    }
}
