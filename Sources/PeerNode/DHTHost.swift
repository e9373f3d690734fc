import ControlProtocol
import DHT
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore
import Registry

/// Runs the peer's registry node (Chord inside) on the overlay: its frames in and out through
/// the `OverlayTransport` every protocol shares, its timers as child tasks, and the node's
/// answers out as control events. A frame that does not decode is dropped, counted and logged.
actor DHTHost {
    let me: NodeRef
    private var node: RegistryNode
    private let transport: OverlayTransport
    private let logger: Logger
    private let emit: @Sendable (Event) async -> Void
    private let origin = ContinuousClock.now
    private var bootstrap: NodeRef?
    private(set) var counters = Counters()
    /// Registry calls from services and clients hosted here, waiting for their answers, by tag.
    private var waitingResolves: [UInt64: CheckedContinuation<ServiceRecord?, Never>] = [:]
    private var waitingRegistrations: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    /// Answers that came while their call was still handing its command to the node.
    private var earlyResolves: [UInt64: ServiceRecord?] = [:]
    private var earlyRegistrations: [UInt64: Bool] = [:]
    /// Set once the links closed: calls made after that answer at once.
    private var closed = false
    /// Tags for those calls; commands from the coordinator use tag 0.
    private var lastTag: UInt64 = 0

    /// What the peer sent and received on the DHT, in frame bytes (length prefixes included).
    struct Counters: Sendable {
        var sentBytes = 0
        var maintenanceBytes = 0
        var receivedBytes = 0
        var malformed = 0
        var tooLarge = 0
    }

    static let lengthPrefix = OverlayTransport.lengthPrefix
    static let maximumFrame = OverlayTransport.maximumFrame
    /// The node's timers as they are set, for `runTimers()`.
    private let timers: AsyncStream<(timer: RegistryNode.Timer, delay: Duration)>
    private let timerSink: AsyncStream<(timer: RegistryNode.Timer, delay: Duration)>.Continuation

    init(
        me: NodeRef, configuration: ChordConfiguration = ChordConfiguration(), transport: OverlayTransport,
        logger: Logger, emit: @escaping @Sendable (Event) async -> Void
    ) {
        self.me = me
        self.node = RegistryNode(chord: ChordNode(me: me, configuration: configuration))
        self.transport = transport
        self.logger = logger
        self.emit = emit
        (timers, timerSink) = AsyncStream.makeStream()
    }

    /// Runs the node's timers, each a child task that sleeps and then fires, until the peer
    /// cancels it (then every timer still waiting is cancelled with it).
    nonisolated func runTimers() async {
        await withDiscardingTaskGroup { group in
            for await (timer, delay) in timers {
                group.addTask {
                    guard (try? await Task.sleep(for: delay)) != nil else { return }
                    await self.fire(timer)
                }
            }
        }
    }

    private var now: Duration { ContinuousClock.now - origin }

    /// The counters as a `dht-traffic` event.
    func trafficEvent() -> Event {
        .dhtTraffic(
            sentBytes: counters.sentBytes, maintenanceBytes: counters.maintenanceBytes,
            receivedBytes: counters.receivedBytes, malformed: counters.malformed)
    }

    // MARK: Inputs

    /// Carries out a control command meant for the DHT or the registry.
    func obey(_ command: PeerCommand) async {
        switch command {
        case .join(let address):
            guard let address else { return await apply(node.command(.chord(.create), now: now)) }
            guard let target = Self.node(address) else {
                return await emit(.error(message: "join: not an ip:port address: \(address)"))
            }
            bootstrap = target
            await apply(node.command(.chord(.join(via: target)), now: now))
        case .lookup(let hex):
            guard let key = ChordID(hex: hex) else { return }
            await apply(node.command(.chord(.lookup(key: key, tag: 0)), now: now))
        case .register(let service, let epoch, let leaseSeconds):
            let record = ServiceRecord(
                name: service, hosts: [me.address], epoch: UInt64(epoch),
                lease: .milliseconds(Int64(leaseSeconds * 1000)))
            await apply(node.command(.register(record, tag: 0), now: now))
        case .resolve(let service):
            await apply(node.command(.resolve(name: service, tag: 0), now: now))
        case .ping, .leave, .shutdown, .deploy, .client, .migrate, .faultAt:
            break
        }
    }

    /// Resolves a service for code running in this peer: its record, or nil when it is not
    /// registered or the DHT could not answer (the DHT's own attempts bound the wait).
    func resolve(service: String) async -> ServiceRecord? {
        lastTag += 1
        let tag = lastTag
        await apply(node.command(.resolve(name: service, tag: tag), now: now))
        if let answer = earlyResolves.removeValue(forKey: tag) { return answer }
        guard !closed else { return nil }
        return await withCheckedContinuation { waitingResolves[tag] = $0 }
    }

    /// Registers a service hosted in this peer (and keeps renewing it); true when the record
    /// reached its primary.
    func register(_ record: ServiceRecord) async -> Bool {
        lastTag += 1
        let tag = lastTag
        await apply(node.command(.register(record, tag: tag), now: now))
        if let answer = earlyRegistrations.removeValue(forKey: tag) { return answer }
        guard !closed else { return false }
        return await withCheckedContinuation { waitingRegistrations[tag] = $0 }
    }

    /// The other peers this one knows in the ring, as `ip:port`, nearest first: its successors,
    /// its fingers, then its predecessor.
    func neighbours() -> [String] {
        let chord = node.chord
        var seen: Set<NodeRef> = [me]
        return (chord.successors + chord.fingers.compactMap { $0 } + [chord.predecessor].compactMap { $0 })
            .filter { seen.insert($0).inserted }.map(\.address)
    }

    /// Stops renewing a service hosted here, writing nothing (it moved to another host).
    func withdraw(service: String) async {
        await apply(node.command(.withdraw(name: service), now: now))
    }

    /// One frame from the overlay's listener.
    func receive(frame: [UInt8]) async {
        counters.receivedBytes += frame.count + Self.lengthPrefix
        let envelope: ChordEnvelope
        do {
            envelope = try ChordWire.decode(frame)
        } catch {
            counters.malformed += 1
            logger.warning("dropped a malformed DHT frame of \(frame.count) bytes: \(error)")
            return
        }
        await apply(node.receive(envelope, now: now))
    }

    /// A frame on the overlay whose envelope names no protocol: dropped, counted as malformed.
    func dropStray(frame: [UInt8]) {
        counters.receivedBytes += frame.count + Self.lengthPrefix
        counters.malformed += 1
        logger.warning("dropped an overlay frame of \(frame.count) bytes for no known protocol")
    }

    func fire(_ timer: RegistryNode.Timer) async {
        await apply(node.fire(timer, now: now))
    }

    /// Leaves the ring gracefully and gives the goodbyes up to `grace` to leave the host.
    func leave(grace: Duration = .milliseconds(500)) async {
        guard node.chord.phase == .joined else { return }
        await apply(node.command(.chord(.leave), now: now))
        await closeLinks(grace: grace)
    }

    /// Answers every registry call still waiting and closes the transport, letting queued
    /// frames out for up to `grace`.
    func closeLinks(grace: Duration = .milliseconds(200)) async {
        closed = true
        for waiting in waitingResolves.values { waiting.resume(returning: nil) }
        for waiting in waitingRegistrations.values { waiting.resume(returning: false) }
        waitingResolves = [:]
        waitingRegistrations = [:]
        await transport.close(grace: grace)
    }

    /// The transport lost its connection to a peer: the node hears that it is unreachable.
    func lost(_ peer: HostPort) async {
        await apply(node.unreachable(NodeRef(host: peer.host, port: peer.port), now: now))
    }

    // MARK: Effects

    private func apply(_ effects: [RegistryNode.Effect]) async {
        for effect in effects {
            switch effect {
            case .send(let message, let to):
                transmit(message, to: to)
            case .schedule(let timer, let delay):
                timerSink.yield((timer, delay))
            case .event(let event):
                answerWaiting(event)
                if let reported = report(event) { await emit(reported) }
            }
        }
    }

    private func answerWaiting(_ event: RegistryNode.Event) {
        switch event {
        case .resolved(_, let record, _, let tag) where tag != 0:
            let answer = record.flatMap { $0.isTombstone ? nil : $0 }
            if let waiting = waitingResolves.removeValue(forKey: tag) {
                waiting.resume(returning: answer)
            } else {
                earlyResolves[tag] = .some(answer)
            }
        case .registered(_, _, let stored, let tag) where tag != 0:
            if let waiting = waitingRegistrations.removeValue(forKey: tag) {
                waiting.resume(returning: stored)
            } else {
                earlyRegistrations[tag] = stored
            }
        default: break
        }
    }

    private func report(_ event: RegistryNode.Event) -> Event? {
        switch event {
        case .chord(.joined(let successor)):
            return .dhtJoined(id: me.id.description, successor: successor.address)
        case .chord(.joinFailed):
            return .dhtJoinFailed(bootstrap: bootstrap?.address ?? "")
        case .chord(.lookupDone(let tag, let key, let outcome)) where tag < RegistryNode.internalTags:
            return .lookup(
                key: key.description, result: outcome.node?.address, hops: outcome.hops,
                latencyMs: outcome.latency.inMilliseconds)
        case .registered(let name, let epoch, let stored, _):
            return .registered(service: name, epoch: Int(clamping: epoch), stored: stored)
        case .resolved(let name, let record, let outcome, _):
            return .resolved(
                service: name, host: record?.hosts.first, epoch: record.map { Int(clamping: $0.epoch) },
                hops: outcome.hops,
                latencyMs: outcome.latency.inMilliseconds)
        case .chord, .unregistered:
            return nil
        }
    }

    private func transmit(_ message: ChordMessage, to destination: NodeRef) {
        let envelope = ChordEnvelope(sender: me, message: message)
        for frame in ChordWire.frames(envelope, maximumBytes: Self.maximumFrame) {
            guard frame.count <= Self.maximumFrame else {
                counters.tooLarge += 1
                logger.error("not sent: a \(frame.count)-byte DHT frame to \(destination)")
                continue
            }
            counters.sentBytes += frame.count + Self.lengthPrefix
            if message.isRingMaintenance { counters.maintenanceBytes += frame.count + Self.lengthPrefix }
            transport.send(frame, to: HostPort(host: destination.host, port: destination.port))
        }
    }

    static func node(_ address: String) -> NodeRef? {
        HostPort(address).map { NodeRef(host: $0.host, port: $0.port) }
    }
}
