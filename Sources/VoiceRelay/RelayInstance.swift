import OverlayCore

/// The voice relay as a protocol participant, without I/O: control messages and data packets go
/// in, answers, forwarding decisions and events come out. Its `state` is the service's whole
/// movable state; which control connection belongs to which participant is this host's own
/// business and stays here.
public struct RelayInstance: Sendable {
    /// A control connection, numbered by the shell.
    public typealias ConnectionID = Int

    public enum Input: Sendable, Equatable {
        /// A control message arrived on a connection.
        case message(from: ConnectionID, RelayMessage)
        /// A control connection closed.
        case disconnected(ConnectionID)
        /// A data packet of `bytes` arrived from `sender` (`ip:port`); `isRTP` says whether its
        /// header is an RTP version 2 header.
        case datagram(from: String, bytes: Int, isRTP: Bool)
    }

    public enum Output: Sendable, Equatable {
        case send(to: ConnectionID, RelayMessage)
        /// Send the packet that just arrived, unchanged, to each of these data addresses.
        case forward(to: [String])
        case emit(RelayEvent)
    }

    /// What the relay tells the peer it runs in.
    public enum RelayEvent: Sendable, Equatable {
        case joined(Participant)
        case left(Participant)
    }

    /// Where clients send data: this host's UDP socket, `ip:port`.
    public let dataAddress: String
    public private(set) var state: RelayState
    private var participantByConnection: [ConnectionID: UInt32] = [:]
    /// Data addresses to forward to, by the sending participant's data address.
    private var routes: [String: (participant: UInt32, targets: [String])] = [:]
    private var random: SeededGenerator

    public static let maximumParticipants = 64

    public init(dataAddress: String, state: RelayState = RelayState(), seed: UInt64) {
        self.dataAddress = dataAddress
        self.state = state
        self.random = SeededGenerator(seed: seed)
        rebuildRoutes()
    }

    public mutating func handle(_ input: Input) -> [Output] {
        switch input {
        case .message(let connection, let message):
            return receive(message, on: connection)
        case .disconnected(let connection):
            guard let id = participantByConnection.removeValue(forKey: connection) else { return [] }
            return remove(id)
        case .datagram(let sender, let bytes, let isRTP):
            guard isRTP else {
                apply(.dropped(.malformed, bytes: UInt32(clamping: bytes)))
                return []
            }
            guard let route = routes[sender] else {
                apply(.dropped(.unknownSender, bytes: UInt32(clamping: bytes)))
                return []
            }
            apply(.forwarded(participant: route.participant, bytes: UInt32(clamping: bytes), copies: UInt32(route.targets.count)))
            return route.targets.isEmpty ? [] : [.forward(to: route.targets)]
        }
    }

    private mutating func receive(_ message: RelayMessage, on connection: ConnectionID) -> [Output] {
        switch message {
        case .join(let name, let address):
            if participantByConnection[connection] != nil {
                return [.send(to: connection, .refused(reason: "this connection already joined"))]
            }
            if state.participant(receivingAt: address) != nil {
                return [.send(to: connection, .refused(reason: "another participant receives at \(address)"))]
            }
            guard state.participants.count < Self.maximumParticipants else {
                return [.send(to: connection, .refused(reason: "the relay is full (\(Self.maximumParticipants))"))]
            }
            let participant = Participant(
                id: state.nextParticipant, name: name, dataAddress: address, session: random.next(),
                resumeToken: random.next())
            apply(.join(participant))
            participantByConnection[connection] = participant.id
            return [
                .send(
                    to: connection,
                    .welcome(
                        participant: participant.id, session: participant.session,
                        resumeToken: participant.resumeToken, relayDataAddress: dataAddress)),
                .emit(.joined(participant)),
            ] + announceMembers()
        case .leave:
            guard let id = participantByConnection.removeValue(forKey: connection) else {
                return [.send(to: connection, .refused(reason: "not joined"))]
            }
            return remove(id)
        case .listParticipants:
            return [.send(to: connection, .participants(members))]
        case .welcome, .participants, .refused:
            return [.send(to: connection, .refused(reason: "not a request"))]
        }
    }

    private mutating func remove(_ id: UInt32) -> [Output] {
        guard let participant = state.participant(id) else { return [] }
        apply(.leave(participant: id))
        return [.emit(.left(participant))] + announceMembers()
    }

    private var members: [RelayMessage.Member] {
        state.participants.map { RelayMessage.Member(id: $0.id, name: $0.name) }
    }

    private func announceMembers() -> [Output] {
        let list = RelayMessage.participants(members)
        return participantByConnection.keys.sorted().map { .send(to: $0, list) }
    }

    /// Every state change goes through here. The instance only makes operations that fit.
    private mutating func apply(_ operation: RelayOperation) {
        do {
            try state.apply(operation)
        } catch {
            preconditionFailure("the relay made an operation its own state rejects: \(error)")
        }
        switch operation {
        case .join, .leave: rebuildRoutes()
        case .forwarded, .dropped: break
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
