/// VoiceRelay is the voice relay service's logic without I/O: its state, the operations that
/// change it, its control protocol, and the instance that decides what to answer and where each
/// data packet goes. The shell that owns sockets lives in `VoiceService`.

import Mobility

/// One client of the relay.
public struct Participant: Sendable, Equatable {
    /// Given by the relay on join, never reused.
    public var id: UInt32
    /// The client's own name (its peer's name in the testbed).
    public var name: String
    /// Where the client receives data: `ip:port` of its UDP socket.
    public var dataAddress: String
    /// The client's persistent session (see `RelayState.sessions`, which holds its token).
    public var session: SessionID
    /// Data packets (and their bytes) this participant sent through the relay.
    public var packetsFrom: UInt64 = 0
    public var bytesFrom: UInt64 = 0

    public init(id: UInt32, name: String, dataAddress: String, session: SessionID) {
        self.id = id
        self.name = name
        self.dataAddress = dataAddress
        self.session = session
    }
}

/// Why a packet was not forwarded.
public enum DropReason: UInt8, Sendable, Equatable, CaseIterable {
    /// It came from an address no participant sends from.
    case unknownSender = 1
    /// It is not an RTP packet (version, header length).
    case malformed = 2
}

/// Every change of who the relay serves and how (participants, sessions). Applying the same
/// operations in the same order to the same snapshot gives the same participants and sessions:
/// this log is what a migration streams. The traffic counters are not in it (`RelayTally`).
public enum RelayOperation: Sendable, Equatable {
    case join(Participant)
    case leave(participant: UInt32)
    /// A client's session was opened or applied a request: its new value.
    case session(id: SessionID, SessionTable.Session?)
}

/// One data packet counted: the counters change with every packet, so they stay out of the
/// operation log (a migration would stream one operation per packet) and travel in the
/// snapshot the source takes when it freezes.
public enum RelayTally: Sendable, Equatable {
    /// A data packet of `bytes` from `participant` went out to `copies` others.
    case forwarded(participant: UInt32, bytes: UInt32, copies: UInt32)
    case dropped(DropReason, bytes: UInt32)
}

/// The relay's whole state: participants with their endpoints, sessions, and counters. Who it
/// serves changes only through `apply`, one numbered operation at a time, so a snapshot plus the
/// operations after it rebuilds that exactly; the counters change through `count`.
public struct RelayState: Sendable, Equatable {
    /// The relay's traffic so far.
    public struct Counters: Sendable, Equatable {
        /// Data packets that reached the relay.
        public var received: UInt64 = 0
        /// Copies sent on to participants, and their bytes.
        public var forwarded: UInt64 = 0
        public var forwardedBytes: UInt64 = 0
        public var droppedUnknownSender: UInt64 = 0
        public var droppedMalformed: UInt64 = 0

        public init() {}
    }

    /// Why an operation does not apply (a log that does not fit its snapshot).
    public enum Rejection: Error, Equatable, CustomStringConvertible {
        case duplicateParticipant(UInt32)
        case duplicateDataAddress(String)
        case unknownParticipant(UInt32)
        case staleIdentifier(UInt32)
        case full

        public var description: String {
            switch self {
            case .full: "the relay has \(RelayInstance.maximumParticipants) participants"
            case .duplicateParticipant(let id): "participant \(id) already joined"
            case .duplicateDataAddress(let address): "another participant receives at \(address)"
            case .unknownParticipant(let id): "no participant \(id)"
            case .staleIdentifier(let id): "participant id \(id) was already given out"
            }
        }
    }

    /// Participants by id, in the order they joined.
    public private(set) var participants: [Participant] = []
    public private(set) var counters = Counters()
    /// The clients' persistent sessions: ids, resume tokens, requests applied. They move with
    /// the service, so a client resumes on the new host and no request applies twice.
    public private(set) var sessions = SessionTable()
    /// The next participant id to give out.
    public private(set) var nextParticipant: UInt32 = 1
    /// How many operations made this state: the sequence number of the last one applied.
    public private(set) var sequence: UInt64 = 0

    public init() {}

    /// A state read back from a snapshot (see `RelayState+Wire`).
    init(
        participants: [Participant], counters: Counters, sessions: SessionTable, nextParticipant: UInt32,
        sequence: UInt64
    ) {
        self.participants = participants
        self.counters = counters
        self.sessions = sessions
        self.nextParticipant = nextParticipant
        self.sequence = sequence
    }

    public func participant(_ id: UInt32) -> Participant? { participants.first { $0.id == id } }

    public func participant(receivingAt address: String) -> Participant? {
        participants.first { $0.dataAddress == address }
    }

    /// Applies one operation and returns its sequence number; an operation that does not fit
    /// leaves the state as it was.
    @discardableResult
    public mutating func apply(_ operation: RelayOperation) throws(Rejection) -> UInt64 {
        switch operation {
        case .join(let participant):
            // An operation replayed from another host is checked as a client's join is: the
            // encoders and the next id rely on both bounds.
            guard participants.count < RelayInstance.maximumParticipants else { throw .full }
            guard participant.id >= nextParticipant, participant.id < .max else {
                throw .staleIdentifier(participant.id)
            }
            guard self.participant(participant.id) == nil else { throw .duplicateParticipant(participant.id) }
            guard self.participant(receivingAt: participant.dataAddress) == nil else {
                throw .duplicateDataAddress(participant.dataAddress)
            }
            participants.append(participant)
            nextParticipant = participant.id + 1
        case .leave(let id):
            guard let index = participants.firstIndex(where: { $0.id == id }) else { throw .unknownParticipant(id) }
            participants.remove(at: index)
        case .session(let id, let session):
            sessions.set(id, session)
        }
        sequence += 1
        return sequence
    }

    /// This state with its traffic counters cleared: what the operation log rebuilds.
    public var withoutTraffic: RelayState {
        var state = self
        state.counters = Counters()
        for index in state.participants.indices {
            state.participants[index].packetsFrom = 0
            state.participants[index].bytesFrom = 0
        }
        return state
    }

    /// Counts one data packet (a participant that is not here counts toward the totals only).
    public mutating func count(_ tally: RelayTally) {
        counters.received &+= 1
        switch tally {
        case .forwarded(let id, let bytes, let copies):
            if let index = participants.firstIndex(where: { $0.id == id }) {
                participants[index].packetsFrom &+= 1
                participants[index].bytesFrom &+= UInt64(bytes)
            }
            counters.forwarded &+= UInt64(copies)
            counters.forwardedBytes &+= UInt64(bytes) * UInt64(copies)
        case .dropped(.unknownSender, _): counters.droppedUnknownSender &+= 1
        case .dropped(.malformed, _): counters.droppedMalformed &+= 1
        }
    }
}
