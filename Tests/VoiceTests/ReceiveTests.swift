import OverlayCore
import RTP
import Testing

@testable import Voice

/// The sending and receiving halves of a speaker: RTP packetization by RFC 5574, and the
/// speexdsp jitter buffer with concealment, on a virtual clock.
///
/// The playout delay is what they assert most: a packet arriving up to it behind its speaker's
/// clock is played, a later one is concealed, and a path that grows longer for good costs a
/// few frames once, not every frame from then on.
struct ReceiveTests {
    @Test func packetsCountFramesAndMarkTalkSpurts() throws {
        var packetizer = SpeexPacketizer(
            band: .wideband, ssrc: 0xC0FFEE, firstSequence: 65534, firstTimestamp: .max - 100)
        let first = packetizer.packet([1, 2], startsTalkSpurt: true)
        let second = packetizer.packet([3])
        packetizer.skipFrame()
        let third = packetizer.packet([4], startsTalkSpurt: true)
        #expect(first.marker && !second.marker && third.marker)
        #expect([first, second, third].map(\.sequenceNumber) == [65534, 65535, 0])
        #expect(second.timestamp == first.timestamp &+ 320)
        #expect(third.timestamp == second.timestamp &+ 640)  // the skipped frame's time passed
        #expect(first.payloadType == 97 && first.ssrc == 0xC0FFEE)
        #expect(try RTPPacket(bytes: first.bytes) == first)
    }

    /// Encodes `seconds` of the reference recording into packets, one per 20 ms.
    static func speech(seconds: Int) throws -> (source: [Int16], packets: [RTPPacket]) {
        let source = Array(try WAVFile.read(path: CodecTests.reference).samples.prefix(16000 * seconds))
        let encoder = SpeexEncoder(band: .wideband)
        var packetizer = SpeexPacketizer(band: .wideband, ssrc: 7, firstSequence: 100, firstTimestamp: 5000)
        let packets = stride(from: 0, to: source.count - 319, by: 320).enumerated().map { index, start in
            packetizer.packet(encoder.encode(Array(source[start..<start + 320])), startsTalkSpurt: index == 0)
        }
        return (source, packets)
    }

    /// Plays packets arriving at `arrivals` (ms; nil = lost) through a track ticking every 20 ms
    /// from `offset` ms after the first arrival until `ticks` frames were played.
    static func play(_ packets: [RTPPacket], arrivals: [Double?], ticks: Int, offset: Double = 0) -> SpeakerTrack {
        let track = SpeakerTrack(ssrc: 7, band: .wideband)
        let schedule = zip(packets, arrivals).compactMap { packet, at in at.map { ($0, packet) } }
            .sorted { $0.0 < $1.0 }
        var next = 0
        let start = (schedule.first?.0 ?? 0) + offset
        for tick in 0..<ticks {
            let now = start + Double(tick) * 20
            while next < schedule.count, schedule[next].0 <= now {
                track.receive(schedule[next].1)
                next += 1
            }
            track.tick()
        }
        return track
    }

    /// A stream whose next packet claims a timestamp 2^31 - 256 further on (after a silence long
    /// enough for the buffer to start over at it) is not heard there: what the track holds stays
    /// the first talk spurt, not a recording of 6.7 M frames (4 GiB).
    @Test func aPacketFarBeyondAnHourOfFramesIsNotHeard() throws {
        let (_, packets) = try Self.speech(seconds: 1)
        var far = packets[10]
        far.timestamp = packets[0].timestamp &+ 0x7FFF_FF00
        far.sequenceNumber = packets[10].sequenceNumber
        let spurt = Array(packets.prefix(10))
        // The spurt, 40 ticks of silence, then the far packet, and ticks to play it.
        let arrivals: [Double?] = spurt.indices.map { Double($0) * 20 } + [Double(10 + 40) * 20]
        let track = Self.play(spurt + [far], arrivals: arrivals, ticks: 70)
        #expect(track.framesHeard <= 10, "\(track.framesHeard) frames")
        #expect(track.heard.count <= 10 * 320)
        // One packet an hour minus a frame on is still heard (the bound is not the spurt's).
        #expect((SpeakerTrack.maximumSlots - 1) * 320 < 0x7FFF_FF00)
    }

    @Test func aCleanStreamComesOutAsTheSourceAndContinuous() throws {
        let (source, packets) = try Self.speech(seconds: 6)
        let track = Self.play(packets, arrivals: packets.indices.map { Double($0) * 20 }, ticks: packets.count + 10)
        // On time: every frame heard, nothing concealed, the ten ticks after the last packet
        // are not part of what was heard.
        #expect(track.heard.count == packets.count * 320)
        #expect(track.concealed == 0)
        let (value, lag) = AudioSimilarity.correlation(source, track.heard, maxLag: 320 * 6)
        #expect(value > 0.9, "correlation \(value) at lag \(lag)")
        // It lines up with the source: no more than the codec's own delay apart.
        #expect(abs(lag) < 320, "lag \(lag) samples")
    }

    @Test func ticksOutOfPhaseWithTheArrivalsLoseNothingThatArrived() throws {
        let (_, packets) = try Self.speech(seconds: 8)
        var random = SeededGenerator(seed: 5)
        // Loopback: every packet on time give or take half a millisecond.
        let arrivals: [Double?] = packets.indices.map { Double($0) * 20 + random.nextUnitInterval() - 0.5 }
        // Ticks in phase with the arrivals: some packets come just after their tick, and the
        // buffer drops or conceals frames that did arrive.
        let inPhase = Self.play(packets, arrivals: arrivals, ticks: packets.count + 10)
        #expect(inPhase.concealed > 0 || inPhase.heard.count < packets.count * 320)
        // Half a frame out of phase (the playout delay is three and a half frames), nothing
        // that arrived is lost.
        let track = Self.play(
            packets, arrivals: arrivals, ticks: packets.count + 10, offset: SpeakerTrack.playoutDelay.inMilliseconds)
        #expect(track.concealed == 0)
        #expect(track.heard.count == packets.count * 320)
    }

    @Test func aSenderLessLateThanThePlayoutDelayLosesNothingAndALaterOneIsConcealed() throws {
        let (_, packets) = try Self.speech(seconds: 8)
        let delay = SpeakerTrack.playoutDelay.inMilliseconds
        for seed in 1...6 {
            var random = SeededGenerator(seed: UInt64(seed))
            for late in [5.0, 15, 25, 35, 45, 55, delay - 5, delay + 20] {
                // On time give or take half a millisecond, until the sender's host stalls at
                // packet `stall` for `late` ms; then it sends what is due at once and goes on.
                var arrivals: [Double?] = packets.indices.map { Double($0) * 20 + random.nextUnitInterval() - 0.5 }
                let stall = 50 * seed
                let resumed = Double(stall) * 20 + late
                for index in stall..<packets.count where Double(index) * 20 < resumed {
                    arrivals[index] = resumed + Double(index - stall) * 0.05
                }
                let track = Self.play(packets, arrivals: arrivals, ticks: packets.count + 10, offset: delay)
                if late < delay {
                    #expect(track.concealed == 0, "\(late) ms late at packet \(stall)")
                } else {
                    #expect(track.concealed > 0, "\(late) ms late at packet \(stall)")
                }
                #expect(track.heard.count == packets.count * 320, "\(late) ms late at packet \(stall)")
            }
        }
    }

    @Test func duplicatesAndReorderingChangeNothingThatIsHeard() throws {
        let (source, packets) = try Self.speech(seconds: 6)
        // Every odd packet overtakes the even one before it; every fifth arrives twice.
        var sent = packets
        var arrivals: [Double?] = packets.indices.map { Double($0) * 20 + ($0 % 2 == 0 ? 6 : 0) }
        for index in stride(from: 0, to: packets.count, by: 5) {
            sent.append(packets[index])
            arrivals.append(Double(index) * 20 + 9)
        }
        let track = Self.play(sent, arrivals: arrivals, ticks: packets.count + 10, offset: 10)
        #expect(track.packets == packets.count + (packets.count + 4) / 5)
        #expect(track.concealed == 0)
        #expect(track.heard.count == packets.count * 320)
        let (value, _) = AudioSimilarity.correlation(source, track.heard, maxLag: 320 * 6)
        #expect(value > 0.9, "correlation \(value)")
    }

    /// Two talk spurts of 100 frames, the second `silence` frames later: its sequence numbers
    /// continuing, its timestamps jumping, its first packet marked.
    static func twoSpurts(silence: Int) throws -> [RTPPacket] {
        var spurts = Array(try speech(seconds: 4).packets.prefix(200))
        for index in 100..<200 {
            spurts[index].timestamp &+= UInt32(silence * 320)
            spurts[index].marker = index == 100
        }
        return spurts
    }

    @Test func theSilenceBetweenTalkSpurtsIsSilentNotConcealed() throws {
        let spurts = try Self.twoSpurts(silence: 50)
        let arrivals: [Double?] = spurts.indices.map { Double($0 < 100 ? $0 : $0 + 50) * 20 }
        let track = Self.play(spurts, arrivals: arrivals, ticks: 260, offset: 10)
        #expect(track.concealed == 0)
        #expect(track.silent == 50)
        #expect(track.heard.count == 250 * 320)
        #expect(track.heard[(100 * 320)..<(150 * 320)].allSatisfy { $0 == 0 })
        #expect(AudioSimilarity.energy(Array(track.heard[(150 * 320)...])) > 1000)
    }

    @Test func aTalkSpurtAfterALongSilenceKeepsThePlayoutDelay() throws {
        // 550 frames of silence between the spurts: more than the 20 empty ticks after which
        // speexdsp starts over. The second spurt's last ten packets are 50 ms late (the sender's
        // host stalled), within the playout delay.
        let spurts = try Self.twoSpurts(silence: 550)
        for seed in 1...4 {
            var random = SeededGenerator(seed: UInt64(seed))
            let arrivals: [Double?] = spurts.indices.map { index in
                let sent = Double(index < 100 ? index : index + 550) * 20 + random.nextUnitInterval() * 3
                return index >= 190 ? max(sent, Double(190 + 550) * 20 + 50) : sent
            }
            let track = Self.play(
                spurts, arrivals: arrivals, ticks: 760, offset: SpeakerTrack.playoutDelay.inMilliseconds)
            #expect(track.concealed == 0 && track.silent == 550, "seed \(seed)")
            #expect(track.heard.count == 750 * 320, "seed \(seed)")
        }
    }

    @Test func lossAndJitterAreConcealedAndTheAudioStaysInTime() throws {
        let (source, packets) = try Self.speech(seconds: 6)
        var random = SeededGenerator(seed: 3)
        // 5 % lost; the rest delayed by 0-40 ms (so some arrive after a later one).
        let arrivals: [Double?] = packets.indices.map { index in
            random.nextUnitInterval() < 0.05 ? nil : Double(index) * 20 + 40 * random.nextUnitInterval()
        }
        let ticks = packets.count + 10
        let track = Self.play(
            packets, arrivals: arrivals, ticks: ticks, offset: SpeakerTrack.playoutDelay.inMilliseconds)
        // Frames lost before the first or after the last arrival are not part of what was heard;
        // the jitter is within the playout delay, so what arrived was played.
        let arrived = arrivals.indices.filter { arrivals[$0] != nil }
        let lostInside = arrivals[arrived.first!...arrived.last!].filter { $0 == nil }.count
        #expect(track.concealed == lostInside)
        // Continuous in time: one frame per frame sent.
        #expect(
            track.heard.count / 320 == arrived.last! - arrived.first! + 1, "\(track.heard.count / 320) frames heard")
        let (value, _) = AudioSimilarity.correlation(source, track.heard, maxLag: 320 * 8)
        #expect(value > 0.8, "correlation \(value)")
    }

    @Test func aPathThatGrowsLongerForGoodCostsAFewFramesOnce() throws {
        let (_, packets) = try Self.speech(seconds: 8)
        // From packet 100 on, every packet takes 130 ms longer (a route change): more than the
        // playout delay, so frames are concealed while the buffer grows its delay, then none.
        let arrivals: [Double?] = packets.indices.map { Double($0) * 20 + ($0 >= 100 ? 130 : 0) }
        let track = Self.play(
            packets, arrivals: arrivals, ticks: packets.count + 20, offset: SpeakerTrack.playoutDelay.inMilliseconds)
        let behind = Int(((130 - SpeakerTrack.playoutDelay.inMilliseconds) / 20).rounded(.up))
        #expect(track.concealed >= behind && track.concealed < behind + 10, "\(track.concealed) concealed")
        #expect(track.heard.count == packets.count * 320)
    }
}
