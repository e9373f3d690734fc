import Foundation

/// The run's progress on stderr: on a terminal one live line (elapsed / planned scenario
/// time, peers up and ready, current step), otherwise one plain line per step.
public struct ProgressDisplay: Sendable {
    public enum Style: Sendable {
        /// A live line redrawn in place (a terminal).
        case live
        /// One line per step (logs, CI).
        case lines
        /// Nothing.
        case quiet

        /// Live when stderr is a terminal, plain lines otherwise.
        public static var automatic: Style { isatty(STDERR_FILENO) == 1 ? .live : .lines }
    }

    let style: Style
    let planned: Duration
    let membership: Membership
    let jobs: AsyncStream<Job>.Continuation

    func start(_ timeline: Timeline) {
        guard style == .live else { return }
        jobs.yield {
            let clock = ContinuousClock()
            while await !timeline.isFinished, !Task.isCancelled {
                let (running, ready) = await membership.counts
                let elapsed = await timeline.elapsed.inSeconds.formatted(decimals: 1)
                let line =
                    "\r\u{1B}[K[\(elapsed)s / \(planned.inSeconds.formatted(decimals: 1))s]  "
                    + "\(running) peers up, \(ready) ready  ·  \(await timeline.currentStep)"
                Self.write(line)
                try? await clock.sleep(for: .milliseconds(100))
            }
        }
    }

    func step(index: Int, of count: Int, _ summary: String, at elapsed: Duration) {
        guard style == .lines else { return }
        Self.write("[\(elapsed.inSeconds.formatted(decimals: 3))s] step \(index + 1)/\(count): \(summary)\n")
    }

    func finish() {
        if style == .live { Self.write("\r\u{1B}[K") }
    }

    static func write(_ text: String) {
        _ = text.withCString { Foundation.write(STDERR_FILENO, $0, strlen($0)) }
    }
}
