import Mobility
import OverlayCore
import Testing

@testable import VoiceRelay

/// A relay state or operation from another host is checked as a client's join is: no more than
/// `maximumParticipants` (the encoders count them), no id at the end of its range (the next id
/// is one more), no sequence number a host could not count on from.
struct HostileRelayStateTests {
    static func participant(_ id: UInt32) -> Participant {
        Participant(id: id, name: "p\(id)", dataAddress: "10.0.0.1:\(id)", session: SessionID(high: 0, low: UInt64(id)))
    }

    @Test func joinsBeyondTheLimitOrWithTheLastIdAreRefused() throws {
        var state = RelayState()
        for id in 1...UInt32(RelayInstance.maximumParticipants) { try state.apply(.join(Self.participant(id))) }
        #expect(throws: RelayState.Rejection.full) { try state.apply(.join(Self.participant(100))) }
        var empty = RelayState()
        #expect(throws: RelayState.Rejection.staleIdentifier(.max)) { try empty.apply(.join(Self.participant(.max))) }
    }

    @Test func aSnapshotAtTheEndOfItsNumbersIsRefused() {
        // version (1), sequence (8), next participant (4), then the counters.
        let sequence = "sequence number \(UInt64.max) (at most \(WireBounds.sequence))"
        for (field, problem) in [(1..<9, sequence), (9..<13, "next participant \(UInt32.max)")] {
            var bytes = RelayState().snapshot
            bytes.replaceSubrange(field, with: repeatElement(0xFF, count: field.count))
            #expect(throws: WireError.invalid(problem, offset: field.lowerBound)) { try RelayState(snapshot: bytes) }
        }
    }
}
