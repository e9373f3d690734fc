import ControlProtocol
import Foundation
import OverlayCore

/// Reading a run's events and writing its report files.
public enum ReportFiles {
    /// A line of events.jsonl that is not an event: where it starts and why.
    public struct UnreadableLine: Sendable, Equatable, CustomStringConvertible {
        /// The byte offset of the line's first byte in the file.
        public var offset: Int
        public var reason: String

        public var description: String { "byte \(offset): \(reason)" }
    }

    /// Reads `events.jsonl`; lines that are not events (not UTF-8, not JSON, not an event) are
    /// counted and named by their offset, never fatal.
    public static func readEvents(at path: String) throws -> (events: [EventLine], unreadable: [UnreadableLine]) {
        events(in: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The events of events.jsonl's bytes.
    public static func events(in data: Data) -> (events: [EventLine], unreadable: [UnreadableLine]) {
        var events: [EventLine] = []
        var unreadable: [UnreadableLine] = []
        let bytes = [UInt8](data)
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            defer { start = end + 1 }
            let line = bytes[start..<end]
            guard !line.isEmpty else { continue }
            guard let text = String(validating: line, as: UTF8.self) else {
                let bad = UTF8Validation.firstInvalidByte(in: line) ?? start
                unreadable.append(
                    UnreadableLine(
                        offset: start, reason: "not UTF-8 (byte 0x\(String(bytes[bad], radix: 16)) at \(bad))"))
                continue
            }
            do {
                events.append(try EventLine(line: text))
            } catch {
                unreadable.append(UnreadableLine(offset: start, reason: "\(error)"))
            }
        }
        return (events, unreadable)
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
