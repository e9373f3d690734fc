/// Which control connection carries which session on this host (that stays here when the
/// service moves), and the way a session message goes through a service's `SessionTable`: every
/// kind handles its clients' control messages with this, and applies only its own requests.
public struct SessionChannels: Sendable {
    private var sessionByConnection: [ServiceConnection: SessionID] = [:]
    /// Resumes each connection asked for with a wrong id or token.
    private var failedResumes: [ServiceConnection: Int] = [:]
    /// A connection gets this many wrong resumes answered; it is not answered after that.
    public static let maximumFailedResumes = 3
    /// Resumes not answered because their connection had failed too often.
    public private(set) var droppedResumes = 0

    public init() {}

    /// What a session message asks of the service, in order.
    public enum Step: Sendable, Equatable {
        /// Send this to the connection.
        case reply(ServiceConnection, SessionMessage)
        /// Apply this request of `session` to the service's state, now.
        case apply(session: SessionID, body: [UInt8])
    }

    private func isOpen(_ message: SessionMessage) -> Bool {
        if case .open = message { true } else { false }
    }

    /// The session a connection carries, if it opened or resumed one.
    public func session(on connection: ServiceConnection) -> SessionID? { sessionByConnection[connection] }

    /// The connection that carries `session` now, if any.
    public func connection(carrying session: SessionID) -> ServiceConnection? {
        sessionByConnection.filter { $0.value == session }.keys.min()
    }

    /// Every connection that carries a session.
    public var connections: [ServiceConnection] { sessionByConnection.keys.sorted() }

    /// A control connection closed (its session lives on, to be resumed).
    public mutating func closed(_ connection: ServiceConnection) {
        sessionByConnection[connection] = nil
        failedResumes[connection] = nil
    }

    /// Runs `message` through `table`: from `connection`, or (nil) a late message of `session`
    /// forwarded by the service's previous host, answered on the session's channel if any.
    /// Returns the steps, the sessions whose entry changed (for the service to record as
    /// operations, before it takes the steps), and the session the message belongs to.
    public mutating func receive(
        _ message: SessionMessage, on connection: ServiceConnection?, late session: SessionID? = nil,
        table: SessionTable, dataAddress: String, secrets: inout SessionSecrets
    ) -> (steps: [Step], changed: [(id: SessionID, session: SessionTable.Session?)], session: SessionID?) {
        if let connection, case .resume = message, failedResumes[connection, default: 0] >= Self.maximumFailedResumes {
            droppedResumes += 1
            return ([], [], sessionByConnection[connection])
        }
        var table = table
        let before = table
        let channel = connection.flatMap { sessionByConnection[$0] } ?? session
        let (answers, channelSession) = table.handle(
            message, on: channel, dataAddress: dataAddress, secrets: &secrets,
            carried: isOpen(message) && table.sessions.count >= SessionTable.maximumSessions
                ? Set(sessionByConnection.values) : [])
        if let connection {
            sessionByConnection[connection] = channelSession
            if case .resume = message, channelSession == nil { failedResumes[connection, default: 0] += 1 }
        }
        let changed = Set(table.sessions.keys).union(before.sessions.keys).sorted()
            .filter { table.sessions[$0] != before.sessions[$0] }.map { ($0, table.sessions[$0]) }
        let replyTo = connection ?? channelSession.flatMap(self.connection(carrying:))
        let steps = answers.compactMap { answer -> Step? in
            switch answer {
            case .answer(let reply): replyTo.map { .reply($0, reply) }
            case .apply(let session, let body): .apply(session: session, body: body)
            }
        }
        return (steps, changed, channelSession)
    }
}
