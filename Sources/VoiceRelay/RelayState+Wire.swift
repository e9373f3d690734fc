import Mobility
import OverlayCore

/// The relay's state and operations as bytes, version 3 (128-bit session ids and tokens; 2 added
/// the sessions): what a migration copies (the snapshot)
/// and streams (the operations). Integers are big-endian, text has a 16-bit length, and lists a
/// count with a limit, so a hostile snapshot cannot make the decoder allocate without bound.
extension RelayState {
    static let snapshotVersion: UInt8 = 3

    /// The whole state as bytes.
    public var snapshot: [UInt8] {
        var writer = WireWriter()
        writer.integer(Self.snapshotVersion)
        writer.integer(sequence)
        writer.integer(nextParticipant)
        for counter in [
            counters.received, counters.forwarded, counters.forwardedBytes, counters.droppedUnknownSender,
            counters.droppedMalformed,
        ] {
            writer.integer(counter)
        }
        writer.integer(UInt16(participants.count))
        for participant in participants { participant.write(to: &writer) }
        sessions.write(to: &writer)
        return writer.bytes
    }

    /// A state from a snapshot's bytes.
    public init(snapshot bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        try reader.version(Self.snapshotVersion)
        let sequence = try reader.sequence()
        let nextOffset = reader.offset
        let nextParticipant = try reader.integer(UInt32.self)
        guard nextParticipant < .max else { throw .invalid("next participant \(nextParticipant)", offset: nextOffset) }
        var counters = Counters()
        counters.received = try reader.integer()
        counters.forwarded = try reader.integer()
        counters.forwardedBytes = try reader.integer()
        counters.droppedUnknownSender = try reader.integer()
        counters.droppedMalformed = try reader.integer()
        let countOffset = reader.offset
        let count = Int(try reader.integer(UInt16.self))
        guard count <= RelayInstance.maximumParticipants else {
            throw .invalid("\(count) participants", offset: countOffset)
        }
        var participants: [Participant] = []
        for _ in 0..<count {
            let offset = reader.offset
            let participant = try Participant(from: &reader)
            guard participant.id < nextParticipant, !participants.contains(where: { $0.id == participant.id }) else {
                throw .invalid("participant id \(participant.id) out of place", offset: offset)
            }
            participants.append(participant)
        }
        let sessions = try SessionTable(from: &reader, limit: SessionTable.maximumSessions)
        try reader.finish()
        self.init(
            participants: participants, counters: counters, sessions: sessions, nextParticipant: nextParticipant,
            sequence: sequence)
    }
}

extension Participant {
    init(from reader: inout WireReader) throws(WireError) {
        let id = try reader.integer(UInt32.self)
        let name = try reader.text(limit: SessionMessage.maximumClientBytes)
        let dataAddress = try reader.text(limit: SessionMessage.maximumAddressBytes)
        self.init(id: id, name: name, dataAddress: dataAddress, session: try reader.session())
        packetsFrom = try reader.integer()
        bytesFrom = try reader.integer()
    }

    func write(to writer: inout WireWriter) {
        writer.integer(id)
        writer.text(name)
        writer.text(dataAddress)
        writer.session(session)
        writer.integer(packetsFrom)
        writer.integer(bytesFrom)
    }
}

extension RelayOperation {
    /// Type bytes on the wire.
    enum Kind: UInt8 {
        // 3 and 4 were the per-packet counters, which are no longer operations.
        case join = 1, leave, session = 5
    }

    /// The operation as bytes.
    public var bytes: [UInt8] {
        var writer = WireWriter()
        write(to: &writer)
        return writer.bytes
    }

    public init(bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        try self.init(from: &reader)
        try reader.finish()
    }

    public func write(to writer: inout WireWriter) {
        switch self {
        case .join(let participant):
            writer.integer(Kind.join.rawValue)
            participant.write(to: &writer)
        case .leave(let id):
            writer.integer(Kind.leave.rawValue)
            writer.integer(id)
        case .session(let id, let session):
            writer.integer(Kind.session.rawValue)
            SessionChange.write(id, session, to: &writer)
        }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let offset = reader.offset
        let type = try reader.integer(UInt8.self)
        switch Kind(rawValue: type) {
        case .join?: self = .join(try Participant(from: &reader))
        case .leave?: self = .leave(participant: try reader.integer())
        case .session?:
            let (id, session) = try SessionChange.read(from: &reader)
            self = .session(id: id, session)
        case nil: throw .unknownType(type, offset: offset)
        }
    }
}
