import ControlProtocol
import Logging
import NIOCore
import OverlayCore
import Registry

/// Something a peer runs besides the DHT, supplied by the `peer` executable: a service kind it
/// can host, a client it can be. It is offered every command PeerNode does not carry out itself.
public protocol PeerApplication: Sendable {
    /// Carries out `command` if it is this application's, and says whether it was. Long-lived
    /// work (sockets, timers) goes on after it returns, on the peer's event loops.
    func obey(_ command: PeerCommand, peer: PeerContext) async -> Bool
    /// The peer is ending: stop what runs and write what must be written, within a second.
    func finish(peer: PeerContext) async
}

/// What a peer offers the applications it runs: its name and address, its event loops, its
/// event stream to the coordinator, and the registry.
public struct PeerContext: Sendable {
    public let name: PeerName
    /// The peer's own IP address; applications bind their sockets on it.
    public let address: String
    public let group: any EventLoopGroup
    public let logger: Logger
    /// Sends an event to the coordinator, in order, without waiting (callable from any thread).
    public let emit: @Sendable (Event) -> Void
    /// The service's record, or nil when it is not registered or the DHT could not answer.
    public let resolve: @Sendable (_ service: String) async -> ServiceRecord?
    /// Registers a service hosted here and keeps the record renewed; true when it was stored.
    public let register: @Sendable (ServiceRecord) async -> Bool

    public init(
        name: PeerName, address: String, group: any EventLoopGroup, logger: Logger,
        emit: @escaping @Sendable (Event) -> Void,
        resolve: @escaping @Sendable (String) async -> ServiceRecord?,
        register: @escaping @Sendable (ServiceRecord) async -> Bool
    ) {
        self.name = name
        self.address = address
        self.group = group
        self.logger = logger
        self.emit = emit
        self.resolve = resolve
        self.register = register
    }
}
