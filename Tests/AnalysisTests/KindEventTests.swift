import ControlProtocol
import GameWire
import Testing
import VoiceWire

/// Each kind's own events travel through the control protocol's lines as `.other` and read back
/// in their kind's vocabulary, and only there.
@Suite struct KindEventTests {
    static let voice: [VoiceEvent] = [
        .relayTraffic(
            service: "voice", received: 1200, forwarded: 2400, forwardedBytes: 180_000, unknownSender: 1, malformed: 2),
        .speaking(
            service: "voice", ssrc: "0x0ae23dfb", audio: "Testbed/audio/reference.wav", from: 8, frames: 400,
            slot: 850),
        .spoke(service: "voice", ssrc: "0x0ae23dfb", frames: 400, maxLateMs: 0.25),
        .heard(
            service: "voice", ssrc: "0x0ae23dfb", file: "/tmp/run/audio/peer-2-from-0x0ae23dfb.wav", frames: 400,
            concealed: 3, silent: 450, packets: 397, malformed: 0),
    ]

    static let game: [GameEvent] = [
        .inputApplied(service: "arena", player: 3, input: 17, tick: 204),
        .bot(
            service: "arena", local: "127.100.0.3:50000",
            tally: GameBotTally(
                player: 3, inputsSent: 100, ticks: 399, duplicates: 1, reordered: 2, firstTick: 12, lastTick: 410,
                lastInputSeen: 100, malformed: 4)),
        .bot(service: "arena", local: "127.100.0.3:50000", tally: GameBotTally(player: 4)),
    ]

    static func reread(_ event: Event) throws -> Event {
        let line = EventLine(t: Timestamp(microseconds: 1_764_037_267_123_456), peer: "peer-1", event: event)
        return try EventLine(line: line.line.dropLast()).event
    }

    @Test(arguments: voice)
    func voiceEventsReadBackAsVoiceAndNotAsGame(event: VoiceEvent) throws {
        let read = try Self.reread(event.event)
        #expect(read.as(VoiceEvent.self) == event)
        #expect(read.as(GameEvent.self) == nil)
        #expect(read.name == event.name)
    }

    @Test(arguments: game)
    func gameEventsReadBackAsGameAndNotAsVoice(event: GameEvent) throws {
        let read = try Self.reread(event.event)
        #expect(read.as(GameEvent.self) == event)
        #expect(read.as(VoiceEvent.self) == nil)
    }

    @Test func aKindsEventWithAMissingOrMistypedMemberIsNotRead() throws {
        var fields = VoiceEvent.spoke(service: "voice", ssrc: "0x01", frames: 4, maxLateMs: 0).fields
        fields["frames"] = .string("four")
        #expect(Event.other(name: "spoke", fields: fields).as(VoiceEvent.self) == nil)
        fields["frames"] = .number(4.5)
        #expect(Event.other(name: "spoke", fields: fields).as(VoiceEvent.self) == nil)
        fields.removeValue(forKey: "ssrc")
        fields["frames"] = .number(4)
        #expect(Event.other(name: "spoke", fields: fields).as(VoiceEvent.self) == nil)
        var bot = GameEvent.bot(service: "arena", local: "x", tally: GameBotTally(player: 1)).fields
        bot["player"] = .number(-1)
        #expect(Event.other(name: "game-bot", fields: bot).as(GameEvent.self) == nil)
        // The control protocol's own events are never a kind's.
        #expect(Event.leaving.as(VoiceEvent.self) == nil)
    }
}
