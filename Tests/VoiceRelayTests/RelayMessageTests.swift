import Mobility
import OverlayCore
import Testing

@testable import VoiceRelay

/// The control channel's wire format: every message decodes back to itself, and every
/// malformed frame is refused with the offset where reading stopped.
struct RelayMessageTests {
    static let messages: [RelayMessage] = [
        .join(name: "peer-3", dataAddress: "127.0.0.3:40000"),
        .leave,
        .listParticipants,
        .welcome(participant: 7, relayDataAddress: "10.0.0.1:9"),
        .participants([]),
        .participants([.init(id: 1, name: "peer-1"), .init(id: 2, name: "pëer-2")]),
        .refused(reason: "the relay is full (64)"),
    ]

    @Test(arguments: messages)
    func aMessageDecodesBackToItself(message: RelayMessage) throws {
        #expect(try RelayMessage(frame: message.frame) == message)
    }

    @Test(arguments: messages)
    func everyProperPrefixIsRejected(message: RelayMessage) {
        let frame = message.frame
        for length in 0..<frame.count {
            #expect(throws: WireError.self) { try RelayMessage(frame: Array(frame.prefix(length))) }
        }
    }

    @Test func malformedFramesNameTheirOffset() {
        #expect(throws: WireError.unsupportedVersion(9)) { try RelayMessage(frame: [9, 1]) }
        #expect(throws: WireError.unknownType(42, offset: 1)) { try RelayMessage(frame: [2, 42]) }
        #expect(throws: WireError.trailingBytes(offset: 2)) { try RelayMessage(frame: RelayMessage.leave.frame + [0]) }
        // A participant list claiming more than a relay holds.
        #expect(throws: WireError.invalid("65535 participants", offset: 2)) {
            try RelayMessage(frame: [2, 5, 0xFF, 0xFF])
        }
        // Text that is not UTF-8.
        #expect(throws: WireError.invalid("text not UTF-8", offset: 2)) {
            try RelayMessage(frame: [2, 6, 0, 2, 0xC3, 0x28])
        }
    }

    @Test func operationsDecodeBackAndRejectUnknownKinds() throws {
        let operations: [RelayOperation] = [
            .join(Participant(id: 3, name: "peer-3", dataAddress: "1.2.3.4:5", session: SessionID(high: 6, low: 7))),
            .leave(participant: 3),
            .session(
                id: SessionID(high: .max, low: 9),
                SessionTable.Session(client: "peer-3", token: SessionToken(high: 11, low: .max), appliedThrough: 4)),
        ]
        for operation in operations {
            #expect(try RelayOperation(bytes: operation.bytes) == operation)
            let bytes = operation.bytes
            for length in 0..<bytes.count {
                #expect(throws: WireError.self) { try RelayOperation(bytes: Array(bytes.prefix(length))) }
            }
        }
        #expect(throws: WireError.unknownType(0, offset: 0)) { try RelayOperation(bytes: [0]) }
        // 3 and 4 were per-packet counters, no longer operations.
        #expect(throws: WireError.unknownType(3, offset: 0)) { try RelayOperation(bytes: [3, 0, 0, 0, 1, 0, 0, 0, 9]) }
    }
}
