/// The service's side of persistent connections, as a value that moves with the service's
/// state: every session with its token and how many of its requests were applied, so a
/// request that arrives twice (resent after a move, or forwarded late by the old host) is
/// applied once, and in order.
public struct SessionTable: Sendable, Equatable {
    /// One client's session.
    public struct Session: Sendable, Equatable {
        public var client: String
        public var token: UInt64
        /// Requests 1...appliedThrough were applied.
        public var appliedThrough: UInt64

        public init(client: String, token: UInt64, appliedThrough: UInt64) {
            self.client = client
            self.token = token
            self.appliedThrough = appliedThrough
        }
    }

    public private(set) var sessions: [UInt64: Session] = [:]

    public init(sessions: [UInt64: Session] = [:]) { self.sessions = sessions }

    /// Sets one session as a replica learns it (nil removes it).
    public mutating func set(_ id: UInt64, _ session: Session?) { sessions[id] = session }

    public enum Output: Sendable, Equatable {
        /// Answer on the channel the message came on.
        case answer(SessionMessage)
        /// Apply this request of `session` to the service's state, now.
        case apply(session: UInt64, body: [UInt8])
    }

    /// Handles one session message; `session` is the channel's session so far (nil before
    /// `open` or `resume`), `dataAddress` where this host takes data, `entropy` two random
    /// numbers for a new session's id and token. Returns the outputs and the channel's session.
    public mutating func handle(
        _ message: SessionMessage, on session: UInt64?, dataAddress: String, entropy: (UInt64, UInt64)
    ) -> (outputs: [Output], session: UInt64?) {
        switch message {
        case .open(let client):
            let id = entropy.0 | 1
            sessions[id] = Session(client: client, token: entropy.1, appliedThrough: 0)
            return ([.answer(.ready(session: id, token: entropy.1, appliedThrough: 0, data: dataAddress))], id)
        case .resume(let id, let token):
            guard let known = sessions[id], known.token == token else { return ([.answer(.unknownSession)], nil) }
            return (
                [.answer(.ready(session: id, token: token, appliedThrough: known.appliedThrough, data: dataAddress))],
                id
            )
        case .request(let sequence, let body):
            guard let session, var known = sessions[session] else { return ([.answer(.unknownSession)], nil) }
            if sequence <= known.appliedThrough { return ([.answer(.applied(sequence: sequence))], session) }
            // A hole: an earlier request is still on its way (forwarded late); the client
            // resends until this one is applied.
            guard sequence == known.appliedThrough + 1 else { return ([], session) }
            known.appliedThrough = sequence
            sessions[session] = known
            return ([.apply(session: session, body: body), .answer(.applied(sequence: sequence))], session)
        case .ping(let nonce):
            return ([.answer(.pong(nonce: nonce))], session)
        case .ready, .unknownSession, .applied, .redirect, .push, .pong, .standbys:
            return ([], session)
        }
    }
}
