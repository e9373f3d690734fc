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
    /// The application's own work (its timers, its senders, what its sockets' callbacks hand
    /// it), run by PeerNode as a child of the peer's own run for as long as the peer runs: it
    /// returns once `finish` has been called and that work is done, or when it is cancelled.
    func run(peer: PeerContext) async
    /// The peer is leaving the overlay (told to, or by SIGTERM): hand what it hosts to other
    /// peers first, within `bound`. The DHT is still up while it does.
    func handOver(peer: PeerContext, within bound: Duration) async
    /// The peer is ending: stop what runs and write what must be written, within a second.
    func finish(peer: PeerContext) async
    /// A migration frame another peer sent on the overlay (`OverlayProtocol.migration`, the
    /// envelope checked); an application ignores what is not its own.
    func receive(overlayFrame: [UInt8], peer: PeerContext) async
}

extension PeerApplication {
    public func receive(overlayFrame: [UInt8], peer: PeerContext) async {}
    public func run(peer: PeerContext) async {}
    public func handOver(peer: PeerContext, within bound: Duration) async {}
}

/// What a peer offers the applications it runs: its name and addresses, its event loops, its
/// event stream to the coordinator, the registry, and frames to other peers on the overlay.
public struct PeerContext: Sendable {
    public let name: PeerName
    /// Every random draw the peer's applications make comes from this seed (each derives its
    /// own stream with a label), so one run seed replays a run.
    public let seed: UInt64
    /// The peer's own IP address; applications bind their sockets on it.
    public let address: String
    /// The peer's overlay listener, `ip:port`: where other peers' frames for it go.
    public let overlayAddress: String
    public let group: any EventLoopGroup
    public let logger: Logger
    /// Sends an event to the coordinator, in order, without waiting (callable from any thread).
    public let emit: @Sendable (Event) -> Void
    /// The service's record, or nil when it is not registered or the DHT could not answer.
    public let resolve: @Sendable (_ service: String) async -> ServiceRecord?
    /// Registers a service hosted here and keeps the record renewed; true when it was stored.
    public let register: @Sendable (ServiceRecord) async -> Bool
    /// Stops renewing a service's record without writing anything (it moved on).
    public let withdraw: @Sendable (_ service: String) async -> Void
    /// Sends a frame to the peer whose overlay listener is at `to` (`ip:port`), in order with
    /// the other frames sent there.
    public let sendOverlay: @Sendable (_ frame: [UInt8], _ to: String) async -> Void
    /// The overlay addresses (`ip:port`) of the other peers this one knows in the ring, nearest
    /// first: where a leaving peer looks for hosts.
    public let neighbours: @Sendable () async -> [String]

    public init(
        name: PeerName, seed: UInt64, address: String, overlayAddress: String, group: any EventLoopGroup,
        logger: Logger,
        emit: @escaping @Sendable (Event) -> Void,
        resolve: @escaping @Sendable (String) async -> ServiceRecord?,
        register: @escaping @Sendable (ServiceRecord) async -> Bool,
        withdraw: @escaping @Sendable (String) async -> Void,
        sendOverlay: @escaping @Sendable ([UInt8], String) async -> Void,
        neighbours: @escaping @Sendable () async -> [String] = { [] }
    ) {
        self.name = name
        self.seed = seed
        self.address = address
        self.overlayAddress = overlayAddress
        self.group = group
        self.logger = logger
        self.emit = emit
        self.resolve = resolve
        self.register = register
        self.withdraw = withdraw
        self.sendOverlay = sendOverlay
        self.neighbours = neighbours
    }
}

/// Work an application starts that outlives the call starting it (registry lookups, senders,
/// what its sockets' callbacks report), run as child tasks of the application's own
/// `run(peer:)`: `spawn` from anywhere, `finish` once nothing more will come.
public struct ChildJobs: Sendable {
    public typealias Job = @Sendable () async -> Void
    private let jobs: AsyncStream<Job>
    private let sink: AsyncStream<Job>.Continuation

    public init() { (jobs, sink) = AsyncStream<Job>.makeStream() }

    public func spawn(_ job: @escaping Job) { sink.yield(job) }

    /// Ends the queue: `run` returns once the jobs under way are done.
    public func finish() { sink.finish() }

    /// Runs every job as a child task until `finish` and the jobs are done, or until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs { group.addTask { await job() } }
        }
    }
}
