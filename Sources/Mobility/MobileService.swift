/// A service kind the runtime can host and move, without I/O: its whole movable state (a snapshot
/// plus an ordered log of operations, both opaque bytes to the runtime), what it does with its
/// clients' control messages and datagrams, and its ticks. The runtime (`ServiceShell`) owns the
/// sockets, the sessions' channels, migration, redirects and late forwarding; a kind supplies
/// only this.
public protocol MobileService: Sendable {
    /// What the service tells the peer it runs in (who joined, what it applied).
    associatedtype Event: Sendable

    /// The kind's name, as `deploy` names it.
    static var kind: String { get }
    /// The version of the state and operation formats: a host takes a service only from a host
    /// that writes the same.
    static var version: UInt32 { get }
    /// How often the primary calls `tick`, or nil when the service never ticks.
    static var tickInterval: Duration? { get }
    /// A datagram's 16-bit serial number in its sender's stream, if it carries one: after a
    /// takeover, the runtime puts late and direct datagrams of each sender back in this order.
    static func sequenceNumber(ofDatagram bytes: UnsafeRawBufferPointer) -> UInt16?

    /// A new, empty service whose clients send data to `dataAddress` (`ip:port`); its sessions'
    /// ids and tokens come from `secrets`.
    init(dataAddress: String, secrets: SessionSecrets)
    /// The service as a snapshot left it, now reached at `dataAddress`.
    init(snapshot: [UInt8], dataAddress: String, secrets: SessionSecrets) throws

    /// The whole movable state, as bytes `init(snapshot:)` reads.
    var snapshot: [UInt8] { get }
    /// The sequence number of the last operation applied (0 before any).
    var sequence: UInt64 { get }
    /// While true, every operation is also an output (`.changed`): a migration streams them.
    var journaling: Bool { get set }
    /// Resumes left unanswered because their connection had guessed wrong too often
    /// (`SessionChannels.droppedResumes`).
    var droppedResumes: Int { get }
    /// The session a control connection carries, if it opened or resumed one.
    func session(on connection: ServiceConnection) -> SessionID?
    /// Where its clients take data (`ip:port` each), as its state holds them: a standby that
    /// takes the service over tells them there.
    var clientDataAddresses: [String] { get }

    /// Applies an operation the service's previous host made (a replica catching up).
    mutating func replay(_ operation: [UInt8]) throws
    /// A control message, a closed connection, late control traffic or a tick.
    mutating func handle(_ input: ServiceInput) -> [ServiceOutput<Event>]
    /// A datagram from `sender` (`ip:port`). `.forward` in the answer sends this very datagram on.
    mutating func receive(datagram bytes: UnsafeRawBufferPointer, from sender: String) -> [ServiceOutput<Event>]
}

/// A client's control connection, numbered by the shell that accepted it.
public typealias ServiceConnection = Int

/// What reaches a service besides datagrams.
public enum ServiceInput: Sendable, Equatable {
    /// A control message arrived on a connection.
    case message(from: ServiceConnection, SessionMessage)
    /// A control connection closed (the session lives on, to be resumed).
    case disconnected(ServiceConnection)
    /// A control message of `session` that reached the service's previous host after it
    /// stopped, forwarded here: handled as if it came on the session's channel.
    case late(session: SessionID, SessionMessage)
    /// The tick the primary's clock calls every `tickInterval`.
    case tick
}

/// What a service asks its runtime to do.
public enum ServiceOutput<Event: Sendable>: Sendable {
    /// A message to a control connection (an answer waits until a replica has the change).
    case send(to: ServiceConnection, SessionMessage)
    /// Send the datagram that just arrived, unchanged, to each of these data addresses.
    case forward(to: [String])
    /// Send a new datagram to each of these data addresses (while standbys follow, once they
    /// hold the state it was made from).
    case datagram([UInt8], to: [String])
    /// Tell the peer.
    case emit(Event)
    /// The state changed by operation `sequence` (only while `journaling`).
    case changed(sequence: UInt64, operation: [UInt8])
}

extension ServiceOutput: Equatable where Event: Equatable {}
