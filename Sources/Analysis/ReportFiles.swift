import ControlProtocol
import Foundation

/// Reading a run's events and writing its report files.
public enum ReportFiles {
    /// Reads `events.jsonl`; lines that are not events are counted, not fatal.
    public static func readEvents(at path: String) throws -> (events: [EventLine], malformed: Int) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var events: [EventLine] = []
        var malformed = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let event = try? EventLine(line: line) { events.append(event) } else { malformed += 1 }
        }
        return (events, malformed)
    }

    /// report.json's text: pretty, keys sorted, so runs diff cleanly.
    public static func json(_ report: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    /// The report as a generic JSON value, for checking expectations.
    public static func jsonValue(_ report: RunReport) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(report))
    }
}
