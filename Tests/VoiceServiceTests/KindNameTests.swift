import Testing
import VoiceRelay
import VoiceWire

/// The judge knows the voice kind by the name its events carry; the relay, which cannot import
/// them, names itself: the two are one name.
@Test func theRelayAndItsEventsNameTheKindAlike() {
    #expect(RelayInstance.kind == VoiceEvent.kind)
}
