import OverlayCore

/// The persistent connection's own messages, on a client's control channel to a service: a
/// session outlives the channel, and the client's requests are numbered so that each reaches
/// the service exactly once across reconnects and moves. The service's own messages travel
/// inside (`request` and `push` bodies).
public enum SessionMessage: Sendable, Equatable {
    // Client to service.
    /// Start a new session as `client`.
    case open(client: String)
    /// Carry on `session` (the token proves it is mine) on this channel.
    case resume(session: SessionID, token: SessionToken)
    /// Request number `sequence` (1, 2, ...) of the session.
    case request(sequence: UInt64, body: [UInt8])
    /// Are you there? (A client that heard nothing for a while asks; the host answers `pong`.)
    case ping(nonce: UInt64)

    // Service to client.
    /// The session is open (or resumed): its id and token, the requests applied so far, and
    /// where to send data (`ip:port`).
    case ready(session: SessionID, token: SessionToken, appliedThrough: UInt64, data: String)
    /// The session cannot be resumed here (unknown or a wrong token): open a new one.
    case unknownSession
    /// Request `sequence` was applied.
    case applied(sequence: UInt64)
    /// The service moves: open a control channel to `control` and resume there. `data` is where
    /// the new host takes data, already serving (send there at once), or empty if not known.
    case redirect(control: String, data: String)
    /// A message of the service for the client.
    case push(body: [UInt8])
    /// The host serving the session is there: the answer to `ping`.
    case pong(nonce: UInt64)
    /// The service's hot standbys now (after `ready`, and whenever they change): if this host
    /// falls silent, one of them takes over, and the client follows a `TakeoverNotice` only from
    /// one of these.
    case standbys([StandbyAddress])

    /// The longest client name an `open` carries: a session's name stays small in the state
    /// every migration copies.
    public static let maximumClientBytes = 64
    /// The longest data address (`ip:port`) a kind's join carries: `[IPv6]:port` takes 47.
    public static let maximumAddressBytes = 64
    /// A `standbys` message lists at most this many.
    public static let maximumStandbys = 16

    static let version: UInt8 = 2

    enum Kind: UInt8 {
        case open = 1, resume, request, ready, unknownSession, applied, redirect, push, ping, pong, standbys
    }

    /// The message as one frame (without the transport's length prefix).
    public var frame: [UInt8] {
        var writer = WireWriter()
        writer.integer(Self.version)
        func blob(_ bytes: [UInt8]) {
            writer.integer(UInt16(bytes.count))
            writer.append(bytes)
        }
        switch self {
        case .open(let client):
            writer.integer(Kind.open.rawValue)
            writer.text(client)
        case .resume(let session, let token):
            writer.integer(Kind.resume.rawValue)
            writer.session(session)
            writer.token(token)
        case .request(let sequence, let body):
            writer.integer(Kind.request.rawValue)
            writer.integer(sequence)
            blob(body)
        case .ready(let session, let token, let applied, let data):
            writer.integer(Kind.ready.rawValue)
            writer.session(session)
            writer.token(token)
            writer.integer(applied)
            writer.text(data)
        case .unknownSession: writer.integer(Kind.unknownSession.rawValue)
        case .applied(let sequence):
            writer.integer(Kind.applied.rawValue)
            writer.integer(sequence)
        case .redirect(let control, let data):
            writer.integer(Kind.redirect.rawValue)
            writer.text(control)
            writer.text(data)
        case .push(let body):
            writer.integer(Kind.push.rawValue)
            blob(body)
        case .ping(let nonce):
            writer.integer(Kind.ping.rawValue)
            writer.integer(nonce)
        case .pong(let nonce):
            writer.integer(Kind.pong.rawValue)
            writer.integer(nonce)
        case .standbys(let standbys):
            writer.integer(Kind.standbys.rawValue)
            let listed = standbys.prefix(Self.maximumStandbys)
            writer.integer(UInt8(listed.count))
            for standby in listed {
                writer.text(standby.control)
                writer.text(standby.data)
            }
        }
        return writer.bytes
    }

    public init(frame: [UInt8]) throws(WireError) {
        var reader = WireReader(frame)
        try reader.version(Self.version)
        let typeOffset = reader.offset
        let type = try reader.integer(UInt8.self)
        func blob() throws(WireError) -> [UInt8] {
            Array(try reader.bytes(Int(try reader.integer(UInt16.self))))
        }
        switch Kind(rawValue: type) {
        case .open?: self = .open(client: try reader.text(limit: Self.maximumClientBytes))
        case .resume?: self = .resume(session: try reader.session(), token: try reader.token())
        case .request?: self = .request(sequence: try reader.integer(), body: try blob())
        case .ready?:
            self = .ready(
                session: try reader.session(), token: try reader.token(), appliedThrough: try reader.integer(),
                data: try reader.text(limit: 255))
        case .unknownSession?: self = .unknownSession
        case .applied?: self = .applied(sequence: try reader.integer())
        case .redirect?: self = .redirect(control: try reader.text(limit: 255), data: try reader.text(limit: 255))
        case .push?: self = .push(body: try blob())
        case .ping?: self = .ping(nonce: try reader.integer())
        case .pong?: self = .pong(nonce: try reader.integer())
        case .standbys?:
            let countOffset = reader.offset
            let count = Int(try reader.integer(UInt8.self))
            guard count <= Self.maximumStandbys else { throw .invalid("\(count) standbys", offset: countOffset) }
            var standbys: [StandbyAddress] = []
            for _ in 0..<count {
                standbys.append(StandbyAddress(control: try reader.text(limit: 255), data: try reader.text(limit: 255)))
            }
            self = .standbys(standbys)
        case nil: throw .unknownType(type, offset: typeOffset)
        }
        try reader.finish()
    }
}

/// What a service's previous host tells a client that still sends data to it after the move,
/// over UDP from the data socket the client sends to: data goes to `data` now. The redirect on
/// the control channel says so too, but a lost TCP segment holds it up for a retransmission
/// timeout, and until then every packet takes the extra hop through the old host.
///
///     'M' 'D'  version (1)  data address (text: `ip:port`)
public struct DataRedirect: MobilityDatagram, Sendable, Equatable {
    public static let magic: (UInt8, UInt8) = (0x4D, 0x44)
    public static let version: UInt8 = 1

    /// Where the service takes data now.
    public var data: String

    public init(data: String) { self.data = data }

    public var bytes: [UInt8] {
        var writer = WireWriter()
        writer.append(Self.header)
        writer.text(data)
        return writer.bytes
    }

    public init(bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        try reader.magic(Self.magic, version: Self.version, of: "a data redirect")
        data = try reader.text(limit: 255)
        guard !data.isEmpty else { throw .invalid("data redirect without an address", offset: 3) }
        try reader.finish()
    }
}
