/// A time on the wall clock shared with pcap timestamps (CLOCK_REALTIME), in whole
/// microseconds since the Unix epoch.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public var seconds: Double { Double(microseconds) / 1_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    /// `1764037267.123456`: seconds with exactly six decimals, as in events.jsonl.
    public var description: String {
        let fraction = String(abs(microseconds % 1_000_000))
        let sign = microseconds < 0 && microseconds > -1_000_000 ? "-" : ""
        return "\(sign)\(microseconds / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count)
            + fraction
    }
}

/// One line of `events.jsonl` (and of a peer's stdout): `t`, `peer`, `event`, then the event's
/// fields in key order.
public struct EventLine: Sendable, Equatable {
    public var t: Timestamp
    /// The peer the event is about, or `testbed` for events of the run itself.
    public var peer: String
    public var event: Event

    public init(t: Timestamp, peer: String, event: Event) {
        self.t = t
        self.peer = peer
        self.event = event
    }

    /// The name used in `peer` for events of the run itself.
    public static let runSubject = "testbed"

    /// The times a line may carry: within ±2^62 µs (about ±146,000 years), so the difference
    /// of any two fits a microsecond count, whatever a peer or a file writes.
    public static let timeLimit = Double(Int64(1) << 62) / 1_000_000

    /// Why a line is not an event line.
    public enum DecodingError: Error, Equatable, CustomStringConvertible {
        /// The line is JSON but not an object.
        case notAnObject
        /// A member every event has is missing or of the wrong type.
        case missingMember(String)
        /// `t` is a number no clock gives.
        case timeOutOfRange(Double)

        public var description: String {
            switch self {
            case .notAnObject: "event line is not a JSON object"
            case .missingMember(let name): "event line has no valid \"\(name)\""
            case .timeOutOfRange(let seconds): "event time \(seconds) is outside ±\(EventLine.timeLimit) s"
            }
        }
    }

    public init(line: some StringProtocol) throws {
        guard case .object(var members) = try JSONValue.parse(line) else { throw DecodingError.notAnObject }
        guard let seconds = members.removeValue(forKey: "t")?.double, seconds.isFinite else {
            throw DecodingError.missingMember("t")
        }
        guard abs(seconds) <= Self.timeLimit else { throw DecodingError.timeOutOfRange(seconds) }
        guard let peer = members.removeValue(forKey: "peer")?.string else {
            throw DecodingError.missingMember("peer")
        }
        guard let name = members.removeValue(forKey: "event")?.string else {
            throw DecodingError.missingMember("event")
        }
        self.init(
            t: Timestamp(microseconds: Int64((seconds * 1_000_000).rounded())), peer: peer,
            event: Event(name: name, fields: members))
    }

    /// The line, newline included.
    public var line: String {
        var output = "{\"t\":\(t),\"peer\":"
        JSONValue.writeString(peer, to: &output)
        output += ",\"event\":"
        JSONValue.writeString(event.name, to: &output)
        let fields = event.fields.sorted { $0.key < $1.key }
        if !fields.isEmpty {
            output += ","
            JSONValue.writeMembers(fields, to: &output)
        }
        output += "}\n"
        return output
    }
}
