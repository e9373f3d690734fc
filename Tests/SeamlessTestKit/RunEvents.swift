import ControlProtocol
import Foundation

/// A live run's `events.jsonl`, read by tests while the run goes on (`<out>/latest`).
public struct RunEvents {
    public let path: String

    /// The events of the newest run under `out` (a `--out` folder).
    public init(out: String) { path = out + "/latest/events.jsonl" }

    /// Every event written so far.
    public var lines: [EventLine] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? EventLine(line: $0) }
    }

    /// Waits (suspending) until an event matches; false after the deadline.
    public func waitFor(within timeout: Duration = .seconds(15), _ condition: (EventLine) -> Bool) async -> Bool {
        await eventually(within: timeout) { lines.contains(where: condition) }
    }

    /// Waits until `peer` reported `ready` and returns the address it gave.
    public func readyAddress(of peer: String, within timeout: Duration = .seconds(15)) async -> String? {
        func address() -> String? {
            for line in lines where line.peer == peer {
                if case .ready(_, let address, _, _) = line.event { return address }
            }
            return nil
        }
        _ = await eventually(within: timeout) { address() != nil }
        return address()
    }
}
