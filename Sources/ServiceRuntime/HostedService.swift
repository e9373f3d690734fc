import ControlProtocol
import Mobility
import PeerNode

/// A shell as the runtime holds it, whatever kind it runs.
public protocol HostedService: AnyObject, Sendable {
    var service: String { get }
    var kind: String { get }
    /// `ip:port` of the control listener and of the data socket.
    var controlAddress: String { get }
    var dataAddress: String { get }
    /// Runs the service with `count` hot standbys from now on.
    func keepStandbys(_ count: Int, host: ShellContext) async throws
    /// Moves the service to `target`; the phases are reported as events on both hosts.
    func migrate(id: UInt64, to target: MigrationMessage.Peer, host: ShellContext) async throws
    /// A migration frame from the other host.
    func receive(_ message: MigrationMessage)
    /// Stops serving when the registry shows a newer epoch; says whether it stopped.
    func superseded(by epoch: UInt64) async -> Bool
    /// Whether this host serves the service now with no migration of it under way from here
    /// (false during one, and once one moved it away).
    func servesHere() async -> Bool
    /// What the service reports when the peer ends, if anything.
    func closingReport() async -> Event?
    /// Closes every control channel and both sockets.
    func close() async
}

extension ServiceShell: HostedService {
    public var kind: String { Service.kind }

    public func servesHere() async -> Bool {
        (try? await loop.submit { self.hosting.servesHere }.get()) ?? false
    }

    public func closingReport() async -> Event? {
        let (report, service) = (self.report, self.service)
        guard let event = try? await inspect({ report(service, $0) }) else { return nil }
        return event
    }
}

/// A kind the runtime can host: how to bind a shell of it, and what its events mean to the
/// coordinator. `peer` registers one per kind it runs (`ServiceKind.of`).
public struct ServiceKind: Sendable {
    public let name: String
    /// This build's code for the kind.
    public let identity: @Sendable () -> ServiceIdentity
    let start:
        @Sendable (_ service: String, _ peer: PeerContext, _ host: ShellContext, _ seed: UInt64) async throws ->
            any HostedService
    let target:
        @Sendable (
            _ prepare: MigrationMessage, _ peer: PeerContext, _ catalogue: ServiceCatalogue, _ hosting: Set<String>,
            _ host: ShellContext, _ seed: UInt64
        ) async throws -> any HostedService
    let standby:
        @Sendable (_ follow: MigrationMessage, _ peer: PeerContext, _ host: ShellContext, _ seed: UInt64) async throws
            -> any HostedService

    /// A kind run by `ServiceShell<Service>`. `events`: the coordinator's event for what the
    /// service tells its peer (nil: nothing to report); `report`: what a service reports when
    /// the peer ends.
    public static func of<Service: MobileService>(
        _: Service.Type, events: @escaping @Sendable (_ service: String, Service.Event) -> Event?,
        report: @escaping @Sendable (_ service: String, Service) -> Event? = { _, _ in nil }
    ) -> ServiceKind {
        ServiceKind(
            name: Service.kind, identity: { ServiceShell<Service>.identity },
            start: { service, peer, host, seed in
                try await ServiceShell<Service>.start(
                    service: service, address: peer.address, group: peer.group, seed: seed, host: host,
                    logger: peer.logger, report: report
                ) { event in if let event = events(service, event) { peer.emit(event) } }
            },
            target: { prepare, peer, catalogue, hosting, host, seed in
                guard case .prepare(_, let service, _, _, _, _) = prepare else {
                    preconditionFailure("not a prepare: \(prepare)")
                }
                return try await ServiceShell<Service>.target(
                    of: prepare, address: peer.address, group: peer.group, catalogue: catalogue, hosting: hosting,
                    seed: seed, host: host, logger: peer.logger, report: report
                ) { event in if let event = events(service, event) { peer.emit(event) } }
            },
            standby: { follow, peer, host, seed in
                guard case .follow(_, let service, _, _, _, _) = follow else {
                    preconditionFailure("not a follow: \(follow)")
                }
                return try await ServiceShell<Service>.standby(
                    of: follow, address: peer.address, group: peer.group, seed: seed, host: host, logger: peer.logger,
                    report: report
                ) { event in if let event = events(service, event) { peer.emit(event) } }
            })
    }
}
