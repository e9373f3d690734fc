/// The service's side of persistent connections, as a value that moves with the service's
/// state: every session with its token and how many of its requests were applied, so a
/// request that arrives twice (resent after a move, or forwarded late by the old host) is
/// applied once, and in order.
public struct SessionTable: Sendable, Equatable {
    /// One client's session.
    public struct Session: Sendable, Equatable {
        public var client: String
        public var token: SessionToken
        /// Requests 1...appliedThrough were applied.
        public var appliedThrough: UInt64

        public init(client: String, token: SessionToken, appliedThrough: UInt64) {
            self.client = client
            self.token = token
            self.appliedThrough = appliedThrough
        }
    }

    public private(set) var sessions: [SessionID: Session] = [:]

    public init(sessions: [SessionID: Session] = [:]) { self.sessions = sessions }

    /// Sets one session as a replica learns it (nil removes it).
    public mutating func set(_ id: SessionID, _ session: Session?) { sessions[id] = session }

    public enum Output: Sendable, Equatable {
        /// Answer on the channel the message came on.
        case answer(SessionMessage)
        /// Apply this request of `session` to the service's state, now.
        case apply(session: SessionID, body: [UInt8])
    }

    /// Handles one session message; `session` is the channel's session so far (nil before
    /// `open` or `resume`), `dataAddress` where this host takes data, `secrets` where a new
    /// session's id and token come from, `carried` the sessions a control channel carries now.
    /// A table that is full makes room for an `open` by forgetting one session: of those no
    /// channel carries, the one with the fewest requests applied (then the lowest id); only if
    /// every one is carried, any. Returns the outputs and the channel's session.
    public mutating func handle(
        _ message: SessionMessage, on session: SessionID?, dataAddress: String, secrets: inout SessionSecrets,
        carried: Set<SessionID> = []
    ) -> (outputs: [Output], session: SessionID?) {
        switch message {
        case .open(let client):
            if sessions.count >= Self.maximumSessions {
                let byUse = { (a: (key: SessionID, value: Session), b: (key: SessionID, value: Session)) in
                    (a.value.appliedThrough, a.key) < (b.value.appliedThrough, b.key)
                }
                let idle = sessions.filter { !carried.contains($0.key) }.min(by: byUse)
                if let forgotten = idle ?? sessions.min(by: byUse) { sessions[forgotten.key] = nil }
            }
            var (id, token) = secrets.next()
            while sessions[id] != nil { (id, token) = secrets.next() }
            sessions[id] = Session(client: client, token: token, appliedThrough: 0)
            return ([.answer(.ready(session: id, token: token, appliedThrough: 0, data: dataAddress))], id)
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
