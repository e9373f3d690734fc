import Mobility
import OverlayCore
import RTP

/// The voice relay as a protocol participant, without I/O: control messages and data packets go
/// in, answers, forwarding decisions and events come out. Clients talk to it over persistent
/// sessions (`SessionMessage`): their requests and its pushes are `RelayMessage`s inside. Its
/// `state` is the service's whole movable state, sessions included; which control connection
/// carries which session is this host's own business and stays here.
public struct RelayInstance: MobileService {
    public static let kind = "voice-relay"
    /// 3: sessions have 128-bit ids and tokens (2: sessions are part of the state).
    public static let version: UInt32 = 3
    public static let tickInterval: Duration? = nil

    /// An RTP packet's sequence number; nil for anything that is not RTP version 2.
    public static func sequenceNumber(ofDatagram bytes: UnsafeRawBufferPointer) -> UInt16? {
        (try? RTPHeader(bytes: bytes))?.sequenceNumber
    }

    public typealias ConnectionID = ServiceConnection
    public typealias Output = ServiceOutput<RelayEvent>

    /// What the relay tells the peer it runs in.
    public enum RelayEvent: Sendable, Equatable {
        case joined(Participant)
        case left(Participant)
    }

    /// Where clients send data: this host's UDP socket, `ip:port`.
    public let dataAddress: String
    public private(set) var state: RelayState
    /// While true, every operation is also an output (a migration streams them).
    public var journaling = false
    private var channels = SessionChannels()
    /// Data addresses to forward to, by the sending participant's data address.
    private var routes: [String: (participant: UInt32, targets: [String])] = [:]
    private var secrets: SessionSecrets
    private var journal: [Output] = []

    public static let maximumParticipants = 64

    public init(dataAddress: String, secrets: SessionSecrets) {
        self.init(dataAddress: dataAddress, state: RelayState(), secrets: secrets)
    }

    public init(snapshot: [UInt8], dataAddress: String, secrets: SessionSecrets) throws {
        self.init(dataAddress: dataAddress, state: try RelayState(snapshot: snapshot), secrets: secrets)
    }

    public init(dataAddress: String, state: RelayState, secrets: SessionSecrets) {
        self.dataAddress = dataAddress
        self.state = state
        self.secrets = secrets
        rebuildRoutes()
    }

    public var snapshot: [UInt8] { state.snapshot }
    public var sequence: UInt64 { state.sequence }

    public func session(on connection: ConnectionID) -> SessionID? { channels.session(on: connection) }
    public var droppedResumes: Int { channels.droppedResumes }
    public var clientDataAddresses: [String] { state.participants.map(\.dataAddress) }

    /// Every connection that carries a session.
    public var connections: [ConnectionID] { channels.connections }

    public mutating func handle(_ input: ServiceInput) -> [Output] {
        let outputs: [Output]
        switch input {
        case .message(let connection, let message):
            outputs = receive(message, on: connection, session: nil)
        case .late(let session, let message):
            outputs = receive(message, on: nil, session: session)
        case .disconnected(let connection):
            channels.closed(connection)
            outputs = []
        case .tick:
            outputs = []
        }
        return journaled(outputs)
    }

    /// Forwards an RTP packet from a participant to every other participant; counts the rest.
    public mutating func receive(datagram bytes: UnsafeRawBufferPointer, from sender: String) -> [Output] {
        let size = UInt32(clamping: bytes.count)
        guard Self.sequenceNumber(ofDatagram: bytes) != nil else {
            state.count(.dropped(.malformed, bytes: size))
            return []
        }
        guard let route = routes[sender] else {
            state.count(.dropped(.unknownSender, bytes: size))
            return []
        }
        state.count(.forwarded(participant: route.participant, bytes: size, copies: UInt32(route.targets.count)))
        return route.targets.isEmpty ? [] : [.forward(to: route.targets)]
    }

    /// The operations made while journaling, then `outputs`.
    private mutating func journaled(_ outputs: [Output]) -> [Output] {
        guard journaling, !journal.isEmpty else { return outputs }
        defer { journal = [] }
        return journal + outputs
    }

    /// Applies an operation the service's previous host made (a replica catching up).
    public mutating func replay(_ operation: [UInt8]) throws {
        try replay(try RelayOperation(bytes: operation))
    }

    public mutating func replay(_ operation: RelayOperation) throws(RelayState.Rejection) {
        try state.apply(operation)
        rebuildRoutes()
    }

    // MARK: Sessions

    /// `connection` is nil for late messages: answers go to the session's channel, if any.
    private mutating func receive(_ message: SessionMessage, on connection: ConnectionID?, session: SessionID?)
        -> [Output]
    {
        let (steps, changed, channelSession) = channels.receive(
            message, on: connection, late: session, table: state.sessions, dataAddress: dataAddress,
            secrets: &secrets)
        var outputs: [Output] = []
        for (id, value) in changed {
            apply(.session(id: id, value))
            // A session the table forgot to make room takes its participant along: nobody can
            // speak for it any more, and its client may join again under a new session.
            if value == nil, let orphan = state.participants.first(where: { $0.session == id }) {
                apply(.leave(participant: orphan.id))
                outputs += [.emit(.left(orphan))] + announceMembers()
            }
        }
        for step in steps {
            switch step {
            case .reply(let connection, let reply): outputs.append(.send(to: connection, reply))
            case .apply(let session, let body): outputs += request(body, session: session)
            }
        }
        // A resumed session hears again who it is here.
        if case .resume = message, let channelSession, let connection,
            let participant = state.participants.first(where: { $0.session == channelSession })
        {
            outputs.append(.send(to: connection, .push(body: welcome(participant).frame)))
        }
        return outputs
    }

    private func push(_ message: RelayMessage, to session: SessionID) -> [Output] {
        channels.connection(carrying: session).map { [.send(to: $0, .push(body: message.frame))] } ?? []
    }

    private func welcome(_ participant: Participant) -> RelayMessage {
        .welcome(participant: participant.id, relayDataAddress: dataAddress)
    }

    // MARK: Requests

    private mutating func request(_ body: [UInt8], session: SessionID) -> [Output] {
        let message: RelayMessage
        do {
            message = try RelayMessage(frame: body)
        } catch {
            return push(.refused(reason: "\(error)"), to: session)
        }
        let current = state.participants.first { $0.session == session }
        switch message {
        case .join(let name, let address):
            if current != nil { return push(.refused(reason: "this session already joined"), to: session) }
            if state.participant(receivingAt: address) != nil {
                return push(.refused(reason: "another participant receives at \(address)"), to: session)
            }
            guard state.participants.count < Self.maximumParticipants, state.nextParticipant < .max else {
                return push(.refused(reason: "the relay is full (\(Self.maximumParticipants))"), to: session)
            }
            let participant = Participant(
                id: state.nextParticipant, name: name, dataAddress: address, session: session)
            apply(.join(participant))
            return push(welcome(participant), to: session) + [.emit(.joined(participant))] + announceMembers()
        case .leave:
            guard let current else { return push(.refused(reason: "not joined"), to: session) }
            apply(.leave(participant: current.id))
            return [.emit(.left(current))] + announceMembers()
        case .listParticipants:
            return push(.participants(members), to: session)
        case .welcome, .participants, .refused:
            return push(.refused(reason: "not a request"), to: session)
        }
    }

    private var members: [RelayMessage.Member] {
        state.participants.map { RelayMessage.Member(id: $0.id, name: $0.name) }
    }

    private func announceMembers() -> [Output] {
        let list = RelayMessage.participants(members)
        return state.participants.flatMap { push(list, to: $0.session) }
    }

    /// Every state change goes through here. The instance only makes operations that fit.
    private mutating func apply(_ operation: RelayOperation) {
        let sequence: UInt64
        do {
            sequence = try state.apply(operation)
        } catch {
            preconditionFailure("the relay made an operation its own state rejects: \(error)")
        }
        if journaling { journal.append(.changed(sequence: sequence, operation: operation.bytes)) }
        switch operation {
        case .join, .leave: rebuildRoutes()
        case .session: break
        }
    }

    private mutating func rebuildRoutes() {
        routes = [:]
        for sender in state.participants {
            routes[sender.dataAddress] = (
                sender.id, state.participants.filter { $0.id != sender.id }.map(\.dataAddress)
            )
        }
    }
}
