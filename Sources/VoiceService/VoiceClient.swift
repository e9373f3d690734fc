import Foundation
import Logging
import Mobility
import NIOCore
import NIOExtras
import NIOPosix
import RTP
import Voice
import VoiceRelay

/// A participant of a voice relay: a persistent connection to the relay (a TCP control channel
/// that follows the relay when it moves, see `ServiceConnectionStateMachine`), a UDP socket that
/// sends what this client says to wherever the relay is now and receives what the others say,
/// and one `SpeakerTrack` per speaker
/// heard with its own playout clock. Speaking and playout are paced by deadlines on a monotonic
/// clock (frame n is due n × 20 ms after the first), so they do not drift however long they run.
/// Everything it holds lives on one event loop.
public final class VoiceClient: @unchecked Sendable {
    /// What a client heard from one speaker.
    public struct Heard: Sendable {
        public var ssrc: UInt32
        public var samples: [Int16]
        public var concealed: Int
        public var silent: Int
        public var packets: Int
    }

    /// What a finished talk spurt looked like.
    public struct Spoken: Sendable {
        public var ssrc: UInt32
        public var frames: Int
        /// How late the latest frame left against its deadline.
        public var maxLate: Duration
    }

    /// Why a client could not join.
    public enum JoinError: Error, CustomStringConvertible {
        case refused(String)
        case noWelcome

        public var description: String {
            switch self {
            case .refused(let reason): "the relay refused: \(reason)"
            case .noWelcome: "no welcome from the relay within \(VoiceClient.joinTimeout)"
            }
        }
    }

    /// How long a join may take: resolving, connecting (with backoff) and the welcome.
    public static let joinTimeout: Duration = .seconds(5)

    public let name: String
    public let band: SpeexBand
    public let quality: Int
    /// `ip:port` of this client's data socket.
    public let localDataAddress: String
    let loop: any EventLoop
    private let logger: Logger
    /// Finds the relay's control address (the registry, in a peer) and hands it to the
    /// callback, nil if there is none; the owner does the looking up, in its own tasks.
    public typealias Resolver = @Sendable (_ answer: @escaping @Sendable (String?) -> Void) -> Void
    private let resolve: Resolver
    private let box: OwnerSlot<VoiceClient>
    // Below: touched on `loop` only.
    /// The persistent connection to the relay: session, channels, requests not yet applied.
    private var connection: ServiceConnectionStateMachine
    private var channels: [ServiceConnectionStateMachine.Channel: any Channel] = [:]
    private var timers: [ServiceConnectionStateMachine.Timer: Scheduled<Void>] = [:]
    private var data: (any Channel)?
    private var welcome: EventLoopPromise<RelayMessage>?
    private var finished = false
    // Below: touched on `loop` only (`whereabouts()` reads them from elsewhere).
    private(set) var participant: UInt32 = 0
    /// `ip:port` of the relay's control channel and data socket now; they change when the
    /// relay moves.
    private(set) var controlAddress = ""
    private(set) var relayDataAddress = ""
    /// How often the connection moved to another host.
    private(set) var moves = 0

    /// Where the client stands now, read on its loop: its participant id at the relay, and the
    /// relay's control and data addresses (they change when the relay moves).
    public func whereabouts() async -> (participant: UInt32, control: String, relayData: String) {
        (try? await loop.submit { (self.participant, self.controlAddress, self.relayDataAddress) }.get())
            ?? (0, "", "")
    }
    private var relayData: SocketAddress?
    private var tracks: [UInt32: (track: SpeakerTrack, playout: Scheduled<Void>?)] = [:]
    /// Datagrams that were not RTP.
    public private(set) var malformed = 0
    /// This client's one RTP stream (a random SSRC, sequence numbers and timestamps), its
    /// encoder, and its media clock: frame slot n is due at `origin` + n × 20 ms.
    private let encoder: SpeexEncoder
    private var packetizer: SpeexPacketizer
    private var origin: NIODeadline?
    /// Frame slots used so far (frames sent and the silence between talk spurts).
    private var slots: Int64 = 0
    private var speech: Speech?
    private var onSpoken: (@Sendable (Spoken) -> Void)?

    /// One talk spurt under way: its frames, from slot `first` on.
    private struct Speech {
        let frames: [[Int16]]
        let first: Int64
        var next = 0
        var maxLate: Duration = .zero
        var scheduled: Scheduled<Void>?
    }

    private init(
        name: String, band: SpeexBand, quality: Int, localDataAddress: String, loop: any EventLoop,
        box: OwnerSlot<VoiceClient>, logger: Logger, resolve: @escaping Resolver
    ) {
        self.name = name
        self.band = band
        self.quality = quality
        self.localDataAddress = localDataAddress
        self.loop = loop
        self.box = box
        self.logger = logger
        self.resolve = resolve
        connection = ServiceConnectionStateMachine(client: name)
        encoder = SpeexEncoder(band: band, quality: quality)
        // RFC 3550 wants random initial sequence numbers and timestamps.
        packetizer = SpeexPacketizer(
            band: band, ssrc: .random(in: 1 ... .max), firstSequence: .random(in: 0 ... .max),
            firstTimestamp: .random(in: 0 ... .max))
    }

    /// This client's SSRC (`0x` + 8 hex digits in events).
    public var ssrc: UInt32 { packetizer.ssrc }

    /// Joins the relay whose control channel is at `control` (`ip:port`).
    public static func join(
        relay control: String, as name: String, address: String, band: SpeexBand = .wideband, quality: Int = 8,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> VoiceClient {
        try await join(
            as: name, address: address, band: band, quality: quality, group: group, logger: logger,
            resolve: { answer in answer(control) })
    }

    /// Binds a data socket on `address`, opens a persistent connection to the relay that
    /// `resolve` finds (again after a break without a redirect), joins as `name`, and starts
    /// the playout clock.
    public static func join(
        as name: String, address: String, band: SpeexBand = .wideband, quality: Int = 8, group: any EventLoopGroup,
        logger: Logger, resolve: @escaping Resolver
    ) async throws -> VoiceClient {
        let loop = group.next()
        let box = OwnerSlot<VoiceClient>()
        let data = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_rcvbuf), value: 1 << 20)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientDatagramHandler(box: box))
                }
            }
            .bind(host: address, port: 0).get()
        let client = VoiceClient(
            name: name, band: band, quality: quality, localDataAddress: data.localAddress?.endpoint ?? "?", loop: loop,
            box: box, logger: logger, resolve: resolve)
        do {
            let welcome = try await loop.submit { () -> EventLoopFuture<RelayMessage> in
                client.data = data
                box.owner = client
                let promise = loop.makePromise(of: RelayMessage.self)
                client.welcome = promise
                loop.scheduleTask(in: TimeAmount(joinTimeout)) {
                    guard let waiting = client.welcome else { return }
                    client.welcome = nil
                    waiting.fail(JoinError.noWelcome)
                }
                client.run(.start)
                client.run(.send(body: RelayMessage.join(name: name, dataAddress: client.localDataAddress).frame))
                return promise.futureResult
            }.get().get()
            if case .refused(let reason) = welcome { throw JoinError.refused(reason) }
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    /// Says `samples` (mono, at the band's rate) as a talk spurt starting at the next frame
    /// slot, one frame every 20 ms; the silence since the last spurt advances the RTP timestamp
    /// but not the sequence number, and the spurt's first packet carries the marker bit. `done`
    /// hears when the last frame left. Returns the spurt's first frame slot (0: the stream's
    /// first frame).
    public func speak(_ samples: [Int16], done: @escaping @Sendable (Spoken) -> Void = { _ in }) async throws -> Int {
        try await loop.submit { () -> Int in
            self.speech?.scheduled?.cancel()
            self.finishSpeech()
            let size = self.band.frameSize
            let frames = stride(from: 0, to: samples.count, by: size).map {
                Array(samples[$0..<min($0 + size, samples.count)])
            }
            let now = NIODeadline.now()
            let origin = self.origin ?? now
            self.origin = origin
            // The next whole slot from now on the media clock; the slots in between were silence.
            let due = max(self.slots, (now - origin).nanoseconds / 20_000_000 + (self.slots == 0 ? 0 : 1))
            for _ in self.slots..<due { self.packetizer.skipFrame() }
            self.slots = due
            self.onSpoken = done
            self.speech = Speech(frames: frames, first: due)
            self.speech?.scheduled = self.loop.scheduleTask(deadline: origin + .milliseconds(20 * due)) { [self] in
                sendNextFrame()
            }
            return Int(due)
        }.get()
    }

    /// Stops speaking and playing, leaves the relay, closes both channels, and returns what was
    /// heard from each speaker (in the order of their SSRCs).
    public func finish() async -> [Heard] {
        let heard =
            (try? await loop.submit { () -> [Heard] in
                self.speech?.scheduled?.cancel()
                self.finishSpeech()
                for entry in self.tracks.values { entry.playout?.cancel() }
                self.run(.send(body: RelayMessage.leave.frame))
                return self.tracks.keys.sorted().map { ssrc in
                    let track = self.tracks[ssrc]!.track
                    return Heard(
                        ssrc: ssrc, samples: track.heard, concealed: track.concealed, silent: track.silent,
                        packets: track.packets)
                }
            }.get()) ?? []
        await close()
        return heard
    }

    private func close() async {
        let channels =
            (try? await loop.submit { () -> [any Channel] in
                self.finished = true
                for timer in self.timers.values { timer.cancel() }
                self.timers = [:]
                let all = Array(self.channels.values) + [self.data].compactMap { $0 }
                self.channels = [:]
                return all
            }.get()) ?? []
        for channel in channels { try? await channel.close() }
    }

    // MARK: On the loop

    /// Plays frame `tick` of a speaker at `start` + `tick` × 20 ms, then schedules the next.
    private func play(_ ssrc: UInt32, tick: Int64, from start: NIODeadline) {
        let playout = loop.scheduleTask(deadline: start + .milliseconds(20 * tick)) { [self] in
            tracks[ssrc]?.track.tick()
            play(ssrc, tick: tick + 1, from: start)
        }
        tracks[ssrc]?.playout = playout
    }

    private func sendNextFrame() {
        guard var current = speech, let origin else { return }
        guard current.next < current.frames.count else { return finishSpeech() }
        let deadline = origin + .milliseconds(20 * (current.first + Int64(current.next)))
        let late = NIODeadline.now() - deadline
        current.maxLate = max(current.maxLate, .nanoseconds(late.nanoseconds))
        let packet = packetizer.packet(encoder.encode(current.frames[current.next]), startsTalkSpurt: current.next == 0)
        slots += 1
        if let relayData, let data {
            data.writeAndFlush(
                AddressedEnvelope(remoteAddress: relayData, data: ByteBuffer(bytes: packet.bytes)), promise: nil)
        }
        current.next += 1
        let nextDeadline = origin + .milliseconds(20 * (current.first + Int64(current.next)))
        current.scheduled = loop.scheduleTask(deadline: nextDeadline) { [self] in sendNextFrame() }
        speech = current
    }

    private func finishSpeech() {
        guard let current = speech else { return }
        speech = nil
        onSpoken?(Spoken(ssrc: packetizer.ssrc, frames: current.next, maxLate: current.maxLate))
    }

    /// Feeds the persistent connection and carries out what it says.
    private func run(_ input: ServiceConnectionStateMachine.Input) {
        guard !finished else { return }
        for output in connection.handle(input) {
            switch output {
            case .resolve:
                resolve { control in self.loop.execute { self.run(.resolved(control: control)) } }
            case .connect(let channel, let control):
                connect(channel, to: control)
            case .close(let channel):
                channels.removeValue(forKey: channel)?.close(promise: nil)
            case .transmit(let channel, let message):
                channels[channel]?.writeAndFlush(ByteBuffer(bytes: message.frame), promise: nil)
            case .setTimer(let timer, let delay):
                timers[timer]?.cancel()
                timers[timer] = loop.scheduleTask(in: TimeAmount(delay)) { [self] in
                    timers[timer] = nil
                    run(.timerFired(timer))
                }
            case .useData(let address):
                relayDataAddress = address
                relayData = SocketAddress(endpoint: address)
            case .deliver(let body):
                pushed(body)
            case .moved(let control):
                moves += 1
                controlAddress = control
                logger.info("\(name): the relay moved to \(control)")
            }
        }
        if let current = connection.current, current.ready { controlAddress = current.control }
    }

    private func connect(_ channel: ServiceConnectionStateMachine.Channel, to control: String) {
        guard let address = SocketAddress(endpoint: control) else {
            logger.warning("\(name): not an ip:port address: \(control)")
            return run(.closed(channel))
        }
        let box = self.box
        // A lost SYN is retried by the kernel only after a second, and until the client has
        // moved the old host forwards its packets (overhead): give up sooner and try again
        // after the connection's backoff. 250 ms is still several round trips on every shipped
        // link profile.
        var bootstrap = ClientBootstrap(group: loop).connectTimeout(.milliseconds(250))
        // From this client's own address (its peer's), as the data socket.
        if let local = data?.localAddress, let ip = local.ipAddress,
            let from = try? SocketAddress(ipAddress: ip, port: 0)
        {
            bootstrap = bootstrap.bind(to: from)
        }
        bootstrap
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { socket in
                socket.eventLoop.makeCompletedFuture {
                    try socket.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
                        LengthFieldPrepender(lengthFieldBitLength: .twoBytes),
                        ClientControlHandler(box: box, channel: channel),
                    ])
                }
            }
            .connect(to: address)
            .whenComplete { [self] result in
                switch result {
                case .success(let socket):
                    guard !finished, socket.isActive else {
                        socket.close(promise: nil)
                        return run(.closed(channel))
                    }
                    channels[channel] = socket
                    run(.connected(channel))
                case .failure:
                    run(.closed(channel))
                }
            }
    }

    func controlFrame(_ frame: [UInt8], on channel: ServiceConnectionStateMachine.Channel) {
        do {
            run(.message(channel, try SessionMessage(frame: frame)))
        } catch {
            logger.warning("malformed control frame from the relay: \(error)")
        }
    }

    func controlClosed(_ channel: ServiceConnectionStateMachine.Channel) {
        guard channels.removeValue(forKey: channel) != nil else { return }
        run(.closed(channel))
    }

    /// A message of the relay itself, from inside the session.
    private func pushed(_ body: [UInt8]) {
        let message: RelayMessage
        do {
            message = try RelayMessage(frame: body)
        } catch {
            return logger.warning("malformed message from the relay: \(error)")
        }
        switch message {
        case .welcome(let participant, _, _, _):
            self.participant = participant
            welcome?.succeed(message)
            welcome = nil
        case .refused:
            welcome?.succeed(message)
            welcome = nil
            logger.warning("the relay refused: \(message)")
        case .participants(let members):
            logger.debug("participants: \(members.map(\.name))")
        case .join, .leave, .listParticipants:
            logger.warning("the relay sent a client's request: \(message)")
        }
    }

    func datagram(_ buffer: ByteBuffer) {
        let packet: RTPPacket
        do {
            packet = try buffer.withUnsafeReadableBytes { bytes throws(RTPPacket.DecodingError) in
                try RTPPacket(bytes: bytes)
            }
        } catch {
            malformed += 1
            return
        }
        if let known = tracks[packet.ssrc] {
            known.track.receive(packet)
        } else {
            let track = SpeakerTrack(ssrc: packet.ssrc, band: band)
            track.receive(packet)
            tracks[packet.ssrc] = (track, nil)
            play(packet.ssrc, tick: 0, from: .now() + TimeAmount(SpeakerTrack.playoutOffset))
        }
    }
}

/// The client's data socket: every datagram to the client.
final class ClientDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let box: OwnerSlot<VoiceClient>

    init(box: OwnerSlot<VoiceClient>) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        box.owner?.datagram(unwrapInboundIn(data).data)
    }
}

/// One of the client's control channels (there are two while it moves): frames in, and its end.
final class ClientControlHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let box: OwnerSlot<VoiceClient>
    let channel: ServiceConnectionStateMachine.Channel

    init(box: OwnerSlot<VoiceClient>, channel: ServiceConnectionStateMachine.Channel) {
        self.box = box
        self.channel = channel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        box.owner?.controlFrame(frame.readBytes(length: frame.readableBytes) ?? [], on: channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        box.owner?.controlClosed(channel)
        context.fireChannelInactive()
    }
}
