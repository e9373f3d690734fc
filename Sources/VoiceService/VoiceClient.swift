import Foundation
import Logging
import Mobility
import NIOCore
import NIOExtras
import NIOPosix
import OverlayCore
import RTP
import ServiceRuntime
import Voice
import VoiceRelay

/// A participant of a voice relay: a `ServiceClient` (the persistent connection that follows the
/// relay when it moves, and the data socket that sends what this client says to wherever the
/// relay is now and receives what the others say), and one `SpeakerTrack` per speaker heard with
/// its own playout clock. Speaking and playout are paced by deadlines on a monotonic
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
    /// The persistent connection to the relay and the data socket.
    let connection: ServiceClient
    var loop: any EventLoop { connection.loop }
    /// `ip:port` of this client's data socket.
    public var localDataAddress: String { connection.localDataAddress }
    private let logger: Logger
    public typealias Resolver = ServiceClient.Resolver
    // Below: touched on `loop` only.
    private var welcome: EventLoopPromise<RelayMessage>?
    private var participant: UInt32 = 0

    /// Where the client stands now, read on its loop: its participant id at the relay, and the
    /// relay's control and data addresses (they change when the relay moves).
    public func whereabouts() async -> (participant: UInt32, control: String, relayData: String) {
        (try? await loop.submit { (self.participant, self.connection.controlAddress, self.connection.dataAddress) }
            .get()) ?? (0, "", "")
    }
    private var tracks: [UInt32: (track: SpeakerTrack, playout: Scheduled<Void>?)] = [:]
    /// Datagrams that were not RTP.
    public private(set) var malformed = 0
    /// The most streams (SSRCs) a client plays and records.
    public static let maximumStreams = RelayInstance.maximumParticipants
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
        name: String, band: SpeexBand, quality: Int, seed: UInt64, connection: ServiceClient, logger: Logger
    ) {
        self.name = name
        self.band = band
        self.quality = quality
        self.connection = connection
        self.logger = logger
        encoder = SpeexEncoder(band: band, quality: quality)
        // RFC 3550 wants random initial sequence numbers and timestamps: drawn from `seed`.
        var random = SeededGenerator(seed: seed)
        packetizer = SpeexPacketizer(
            band: band, ssrc: .random(in: 1 ... .max, using: &random),
            firstSequence: .random(in: 0 ... .max, using: &random),
            firstTimestamp: .random(in: 0 ... .max, using: &random))
    }

    /// This client's SSRC (`0x` + 8 hex digits in events).
    public var ssrc: UInt32 { packetizer.ssrc }

    /// Joins the relay whose control channel is at `control` (`ip:port`).
    public static func join(
        relay control: String, as name: String, address: String, band: SpeexBand = .wideband, quality: Int = 8,
        seed: UInt64, group: any EventLoopGroup, logger: Logger
    ) async throws -> VoiceClient {
        try await join(
            as: name, address: address, band: band, quality: quality, seed: seed, group: group, logger: logger,
            resolve: { answer in answer(control) })
    }

    /// Binds a data socket on `address`, opens a persistent connection to the relay that
    /// `resolve` finds (again after a break without a redirect), joins as `name`, and starts
    /// the playout clock.
    public static func join(
        as name: String, address: String, band: SpeexBand = .wideband, quality: Int = 8, seed: UInt64,
        group: any EventLoopGroup, logger: Logger, resolve: @escaping Resolver
    ) async throws -> VoiceClient {
        let connection = try await ServiceClient.bind(
            as: name, address: address, group: group, logger: logger, resolve: resolve)
        let client = VoiceClient(
            name: name, band: band, quality: quality, seed: seed, connection: connection, logger: logger)
        let loop = connection.loop
        do {
            let welcome = try await loop.submit { () -> EventLoopFuture<RelayMessage> in
                let promise = loop.makePromise(of: RelayMessage.self)
                client.welcome = promise
                loop.scheduleTask(in: TimeAmount(joinTimeout)) {
                    guard let waiting = client.welcome else { return }
                    client.welcome = nil
                    waiting.fail(JoinError.noWelcome)
                }
                connection.start(
                    ServiceClient.Handlers(pushed: { client.pushed($0) }, datagram: { client.datagram($0) }))
                connection.request(RelayMessage.join(name: name, dataAddress: client.localDataAddress).frame)
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

    /// Frames of each speaker played out so far (heard, concealed or silent), by SSRC.
    public func framesPlayed() async -> [UInt32: Int] {
        (try? await loop.submit { self.tracks.mapValues { $0.track.framesHeard } }.get())
            ?? [:]
    }

    /// Stops speaking and playing, leaves the relay, closes both channels, and returns what was
    /// heard from each speaker (in the order of their SSRCs).
    public func finish() async -> [Heard] {
        let heard =
            (try? await loop.submit { () -> [Heard] in
                self.speech?.scheduled?.cancel()
                self.finishSpeech()
                for entry in self.tracks.values { entry.playout?.cancel() }
                self.connection.request(RelayMessage.leave.frame)
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

    private func close() async { await connection.close() }

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
        connection.send(datagram: ByteBuffer(bytes: packet.bytes))
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

    /// A message of the relay itself, from inside the session.
    func pushed(_ body: [UInt8]) {
        let message: RelayMessage
        do {
            message = try RelayMessage(frame: body)
        } catch {
            return logger.warning("malformed message from the relay: \(error)")
        }
        switch message {
        case .welcome(let participant, _):
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
            // Each stream costs a track, a playout clock and a recording: no more streams than a
            // relay has speakers; a packet of one more is counted with the malformed.
            guard tracks.count < Self.maximumStreams else {
                malformed += 1
                return
            }
            let track = SpeakerTrack(ssrc: packet.ssrc, band: band)
            track.receive(packet)
            tracks[packet.ssrc] = (track, nil)
            play(packet.ssrc, tick: 0, from: .now() + TimeAmount(SpeakerTrack.playoutDelay))
        }
    }
}
