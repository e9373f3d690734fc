import OverlayCore

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
        /// When it was last opened, resumed or had a request applied, on the table's own count
        /// of such moments (the least recently active goes first when the table is full).
        public var lastActive: UInt64

        public init(client: String, token: SessionToken, appliedThrough: UInt64, lastActive: UInt64 = 0) {
            self.client = client
            self.token = token
            self.appliedThrough = appliedThrough
            self.lastActive = lastActive
        }
    }

    public private(set) var sessions: [SessionID: Session] = [:]
    /// The latest `lastActive` of any session so far: this host's own count, not part of
    /// what two tables compare.
    private var clock: UInt64 = 0

    public static func == (a: SessionTable, b: SessionTable) -> Bool { a.sessions == b.sessions }

    public init(sessions: [SessionID: Session] = [:]) {
        self.sessions = sessions
        clock = sessions.values.map(\.lastActive).max() ?? 0
    }

    /// Sets one session as a replica learns it (nil removes it).
    public mutating func set(_ id: SessionID, _ session: Session?) {
        sessions[id] = session
        if let session { clock = max(clock, session.lastActive) }
    }

    /// The next moment of activity (it stops at `WireBounds.sequence`, which a decoded
    /// session's count never exceeds, rather than wrap).
    private mutating func tick() -> UInt64 {
        if clock < WireBounds.sequence { clock += 1 }
        return clock
    }

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
    /// channel carries, the least recently active (then the lowest id); only if every one is
    /// carried, the least recently active of all. Returns the outputs and the channel's session.
    public mutating func handle(
        _ message: SessionMessage, on session: SessionID?, dataAddress: String, secrets: inout SessionSecrets,
        carried: Set<SessionID> = []
    ) -> (outputs: [Output], session: SessionID?) {
        switch message {
        case .open(let client):
            if sessions.count >= Self.maximumSessions {
                let byUse = { (a: (key: SessionID, value: Session), b: (key: SessionID, value: Session)) in
                    (a.value.lastActive, a.key) < (b.value.lastActive, b.key)
                }
                let idle = sessions.filter { !carried.contains($0.key) }.min(by: byUse)
                if let forgotten = idle ?? sessions.min(by: byUse) { sessions[forgotten.key] = nil }
            }
            var (id, token) = secrets.next()
            while sessions[id] != nil { (id, token) = secrets.next() }
            sessions[id] = Session(client: client, token: token, appliedThrough: 0, lastActive: tick())
            return ([.answer(.ready(session: id, token: token, appliedThrough: 0, data: dataAddress))], id)
        case .resume(let id, let token):
            guard var known = sessions[id], known.token == token else { return ([.answer(.unknownSession)], nil) }
            known.lastActive = tick()
            sessions[id] = known
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
            known.lastActive = tick()
            sessions[session] = known
            return ([.apply(session: session, body: body), .answer(.applied(sequence: sequence))], session)
        case .ping(let nonce):
            return ([.answer(.pong(nonce: nonce))], session)
        case .ready, .unknownSession, .applied, .redirect, .push, .pong, .standbys:
            return ([], session)
        }
    }
}
