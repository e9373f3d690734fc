import DHT
import OverlayCore
import Registry
import Testing

/// The binary wire format: every message round-trips; every malformed frame is an error with
/// its offset, never a crash.
struct WireTests {
    static let a = NodeRef(host: "127.100.0.1", port: 7000)
    static let b = NodeRef(host: "10.7.0.2", port: 65535)
    static let named = NodeRef(host: "fd00::1", port: 7000)
    static let entry = StoredEntry(key: .hashing("k"), value: [1, 2, 3], epoch: 9, lease: .milliseconds(1500))

    static let messages: [ChordMessage] = [
        .findSuccessor(request: 1, key: .hashing("x")), .successorIs(request: 2, node: b),
        .askNext(request: .max, node: named), .getNeighbours(request: 4),
        .neighbours(request: 5, predecessor: nil, successors: [a, b, named]),
        .neighbours(request: 6, predecessor: b, successors: []), .closerSuccessor(b), .unreachable(named),
        .ping(request: 7),
        .pong(request: 7), .store(request: 8, entry: entry), .stored(request: 8, accepted: true),
        .stored(request: 9, accepted: false), .replicate(entries: [entry, entry]),
        .fetch(request: 9, key: .hashing("k")), .fetched(request: 9, entry: nil), .fetched(request: 10, entry: entry),
        .leaving(predecessor: a, successors: [b], entries: [entry]),
    ]

    @Test(arguments: messages) func roundTrip(message: ChordMessage) throws {
        let envelope = ChordEnvelope(sender: Self.a, message: message)
        let bytes = ChordWire.encode(envelope)
        let decoded = try ChordWire.decode(bytes)
        #expect(decoded == envelope)
        #expect(decoded.sender.host == "127.100.0.1" && decoded.sender.port == 7000)
        // Every proper prefix is truncated, and is an error rather than a crash.
        for length in 0..<bytes.count {
            #expect(throws: WireError.self) { try ChordWire.decode(Array(bytes.prefix(length))) }
        }
        #expect(throws: WireError.trailingBytes(offset: bytes.count)) { try ChordWire.decode(bytes + [0]) }
    }

    @Test func theExactBytesOfAStabilizationQuestion() {
        // The DHT's protocol id 1, version 1, type 4 (getNeighbours), IPv4 127.100.0.1, port
        // 7000, request 4 in 8 bytes.
        #expect(
            ChordWire.encode(ChordEnvelope(sender: Self.a, message: .getNeighbours(request: 4))) == [
                1, 1, 4, 4, 127, 100, 0, 1, 0x1b, 0x58, 0, 0, 0, 0, 0, 0, 0, 4,
            ])
        // Type 6 was a notify of its own, which the question now carries.
        #expect(throws: WireError.unknownType(6, offset: 2)) {
            try ChordWire.decode([1, 1, 6, 4, 127, 100, 0, 1, 0x1b, 0x58])
        }
    }

    /// A host written as a canonical dotted quad travels as four bytes (kind 4); any other text
    /// as text (kind 0); both read back as written.
    @Test(
        arguments: [
            ("0.0.0.0", 4), ("255.255.255.255", 4), ("10.0.12.1", 4), ("127.100.0.1", 4),
            ("256.1.1.1", 0), ("01.2.3.4", 0), ("1.2.3", 0), ("1.2.3.4.5", 0), ("1..2.3", 0), ("1.2.3.", 0),
            ("+1.2.3.4", 0), ("1234.1.1.1", 0), ("peer-3", 0),
        ] as [(String, UInt8)])
    func aHostTravelsAsFourBytesOnlyWhenItIsADottedQuad(host: String, kind: UInt8) throws {
        let envelope = ChordEnvelope(sender: NodeRef(host: host, port: 7000), message: .ping(request: 1))
        let frame = ChordWire.encode(envelope)
        #expect(frame[3] == kind)
        #expect(try ChordWire.decode(frame) == envelope)
        #expect(try ChordWire.decode(frame).sender.host == host)
    }

    @Test func malformedFramesSayWhatAndWhere() {
        // Another protocol's frame (a migration's), and another version of the DHT's.
        #expect(throws: WireError.invalid("not a DHT frame", offset: 0)) { try ChordWire.decode([2, 1, 6]) }
        #expect(throws: WireError.unsupportedVersion(2)) { try ChordWire.decode([1, 2, 6, 4, 127, 0, 0, 1, 0, 1]) }
        #expect(throws: WireError.unknownType(99, offset: 2)) { try ChordWire.decode([1, 1, 99]) }
        #expect(throws: WireError.invalid("unknown address kind 7", offset: 3)) {
            try ChordWire.decode([1, 1, 15, 7, 127, 0, 0, 1, 0, 1])
        }
        #expect(throws: WireError.invalid("empty host", offset: 3)) { try ChordWire.decode([1, 1, 15, 0, 0, 0, 0, 1]) }
        // neighbours with a presence flag of 2.
        let header: [UInt8] = [1, 1, 5, 4, 127, 0, 0, 1, 0, 1] + Array(repeating: 0, count: 8)
        #expect(throws: WireError.invalid("presence flag 2", offset: 18)) { try ChordWire.decode(header + [2]) }
        // A successor list longer than any node keeps.
        #expect(throws: WireError.invalid("200 nodes in a list", offset: 19)) {
            try ChordWire.decode(header + [0, 200])
        }
        // A value claiming 4 GB.
        let store: [UInt8] = [1, 1, 9, 4, 127, 0, 0, 1, 0, 1] + Array(repeating: 0, count: 8 + 20 + 8 + 4)
        #expect(throws: WireError.invalid("value of 4294967295 bytes", offset: 50)) {
            try ChordWire.decode(store + [255, 255, 255, 255])
        }
    }

    @Test func aStoredEntryWithAnEpochAboveTheBoundIsRefused() {
        let high = StoredEntry(key: .hashing("k"), value: [1], epoch: WireBounds.epoch + 1, lease: .seconds(1))
        let bytes = ChordWire.encode(ChordEnvelope(sender: Self.a, message: .store(request: 1, entry: high)))
        #expect(throws: WireError.self) { try ChordWire.decode(bytes) }
        // Nor one whose lease would hold a key for longer than an hour.
        let long = StoredEntry(key: .hashing("k"), value: [1], epoch: 1, lease: WireBounds.lease + .milliseconds(1))
        #expect(throws: WireError.self) {
            try ChordWire.decode(ChordWire.encode(ChordEnvelope(sender: Self.a, message: .replicate(entries: [long]))))
        }
        let highest = StoredEntry(key: .hashing("k"), value: [1], epoch: WireBounds.epoch, lease: WireBounds.lease)
        let fine = ChordWire.encode(ChordEnvelope(sender: Self.a, message: .store(request: 1, entry: highest)))
        #expect((try? ChordWire.decode(fine))?.message == .store(request: 1, entry: highest))
    }

    @Test func manyEntriesAreSpreadOverFramesThatFit() throws {
        let entries = (0..<40).map {
            StoredEntry(key: .hashing("k\($0)"), value: Array(repeating: 7, count: 3000), epoch: 1, lease: .seconds(9))
        }
        let envelope = ChordEnvelope(
            sender: Self.a, message: .leaving(predecessor: Self.b, successors: [Self.b], entries: entries))
        let frames = ChordWire.frames(envelope, maximumBytes: 65535)
        #expect(frames.count > 2)
        #expect(frames.allSatisfy { $0.count <= 65535 })
        let decoded = try frames.map { try ChordWire.decode($0).message }
        #expect(decoded.first == .leaving(predecessor: Self.b, successors: [Self.b], entries: []))
        let carried = decoded.dropFirst().flatMap { message -> [StoredEntry] in
            if case .replicate(let entries) = message { entries } else { [] }
        }
        #expect(carried == entries)
        #expect(
            ChordWire.frames(ChordEnvelope(sender: Self.a, message: .getNeighbours(request: 1)), maximumBytes: 65535)
                .count
                == 1)
    }

    /// More entries than a list may carry (and than its 16-bit count could say), each tiny: spread
    /// over frames a receiver takes, none over the limit, all of them there in order.
    @Test func moreEntriesThanAListTakesAreSpreadToo() throws {
        let entries = (0..<70_000).map {
            StoredEntry(key: .hashing("k\($0)"), value: [], epoch: 1, lease: .seconds(9))
        }
        let frames = ChordWire.frames(
            ChordEnvelope(sender: Self.a, message: .replicate(entries: entries)), maximumBytes: 65535)
        let decoded = try frames.map { try ChordWire.decode($0).message }
        let carried = decoded.flatMap { message -> [StoredEntry] in
            if case .replicate(let entries) = message { entries } else { [] }
        }
        #expect(carried == entries)
        #expect(frames.allSatisfy { $0.count <= 65535 })
    }

    @Test func serviceRecordsRoundTripAndRejectForeignKeys() throws {
        let record = ServiceRecord(
            name: "voice", hosts: ["127.100.0.3:7000", "127.100.0.4:7000"], epoch: 3, lease: .seconds(30))
        #expect(try ServiceRecord(entry: record.entry) == record)
        var moved = record.entry
        moved.key = .hashing("elsewhere")
        #expect(throws: WireError.self) { try ServiceRecord(entry: moved) }
        var garbage = record.entry
        garbage.value = [1, 0, 200]
        #expect(throws: WireError.truncated(offset: 3)) { try ServiceRecord(entry: garbage) }
        garbage.value = [9]
        #expect(throws: WireError.unsupportedVersion(9)) { try ServiceRecord(entry: garbage) }
    }
}
