/// The frame of a stream whose payload does not say how much media it holds: the most common
/// timestamp step between consecutive packets among the last `window` steps (ties go to the
/// value seen most recently). One odd step, or a codec changing its frame length mid-call,
/// moves it only once the new length is the most common.
struct FrameEstimator {
    static let window = 16
    /// The last steps in a ring; `next` is where the next one goes (the oldest, once full).
    private var steps: [Int64] = []
    private var next = 0
    /// The current estimate; nil before the first step.
    private(set) var frame: Int64?

    /// A timestamp step between two consecutive sequence numbers (positive).
    mutating func add(step: Int64) {
        if steps.count < Self.window {
            steps.append(step)
        } else {
            steps[next] = step
        }
        next = (next + 1) % Self.window
        // Adding the current mode keeps it the mode: its count grows or stays the largest, and
        // it is now the most recent. Anything else may change it.
        guard step != frame else { return }
        var best = step
        var bestCount = 0
        // Newest first, so among equal counts the value seen most recently is met first.
        for age in 0..<steps.count {
            let value = steps[index(age: age)]
            guard !(0..<age).contains(where: { steps[index(age: $0)] == value }) else { continue }
            let count = steps.reduce(0) { $0 + ($1 == value ? 1 : 0) }
            if count > bestCount { (best, bestCount) = (value, count) }
        }
        frame = best
    }

    /// Where the step `age` steps older than the newest is (before the ring fills, `next` is
    /// the count of steps, so this holds then too).
    private func index(age: Int) -> Int { (next - 1 - age + 2 * Self.window) % Self.window }
}
