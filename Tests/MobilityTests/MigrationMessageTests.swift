import OverlayCore
import Testing

@testable import Mobility

/// Migration frames: every message decodes back to itself, every proper prefix is refused,
/// malformed frames name their offset; the catalogue refuses code it does not run.
struct MigrationMessageTests {
    static let identity = ServiceIdentity(kind: "voice-relay", version: 1, digest: Array(repeating: 0xAB, count: 32))
    static let messages: [MigrationMessage] = [
        .prepare(
            migration: 9, service: "voice", identity: identity, epoch: 4, standbys: 2,
            source: MigrationMessage.Peer(name: "peer-1", overlay: "127.0.0.2:4000")),
        .follow(
            migration: 10, service: "voice", identity: identity, epoch: 5, standbys: 1,
            primary: MigrationMessage.Peer(name: "peer-2", overlay: "127.0.0.3:4000")),
        .accept(migration: 9, contact: "127.0.0.3:5000", data: "127.0.0.3:5001"),
        .refuse(migration: 9, reason: "this host runs no voice-relay"),
        .snapshot(migration: 9, sequence: 1200, size: 412, state: [1, 2, 3, 4]),
        .operations(migration: 9, first: 1201, operations: [[1], [], [2, 3]]),
        .acknowledge(migration: 9, sequence: 1203),
        .commit(migration: 9, sequence: 1203, size: 412, state: [5, 6, 7]),
        .tookOver(migration: 9),
        .late(migration: 9, traffic: Array(repeating: 7, count: 90)),
        .release(migration: 9),
        .abort(migration: .max, reason: "the target did not answer"),
        .hostQuery(
            migration: 8, service: "voice", identity: identity,
            asker: MigrationMessage.Peer(name: "peer-2", overlay: "127.100.0.2:7000")),
        .hostAnswer(
            migration: 8, host: MigrationMessage.Peer(name: "peer-5", overlay: "127.100.0.5:7000"), refusal: nil),
        .hostAnswer(
            migration: 8, host: MigrationMessage.Peer(name: "peer-6", overlay: "127.100.0.6:7000"),
            refusal: "the peer is leaving"),
    ]

    @Test(arguments: messages)
    func aMessageDecodesBackToItself(message: MigrationMessage) throws {
        #expect(try MigrationMessage(frame: message.frame) == message)
        #expect(OverlayProtocol(frame: message.frame) == .migration)
    }

    @Test(arguments: messages)
    func everyProperPrefixIsRefused(message: MigrationMessage) {
        let frame = message.frame
        for length in 0..<frame.count {
            #expect(throws: WireError.self) { try MigrationMessage(frame: Array(frame.prefix(length))) }
        }
    }

    @Test func malformedFramesNameTheirOffset() {
        #expect(throws: WireError.invalid("not a migration frame", offset: 0)) {
            try MigrationMessage(frame: [1, 1, 2])
        }
        #expect(throws: WireError.unsupportedVersion(3)) { try MigrationMessage(frame: [2, 3, 1]) }
        #expect(throws: WireError.unknownType(99, offset: 2)) {
            try MigrationMessage(frame: [2, 1, 99, 0, 0, 0, 0, 0, 0, 0, 1])
        }
        // 11 bytes of head, then the contact and the data address: each a 2-byte length and 3 bytes.
        #expect(throws: WireError.trailingBytes(offset: 21)) {
            try MigrationMessage(frame: MigrationMessage.accept(migration: 1, contact: "a:1", data: "a:2").frame + [0])
        }
        // A snapshot claiming more bytes than a frame can hold.
        #expect(throws: WireError.invalid("4294967295 bytes", offset: 23)) {
            try MigrationMessage(
                frame: [2, 1, 4] + Array(repeating: 0, count: 8) + Array(repeating: 0, count: 12) + [
                    0xFF, 0xFF, 0xFF, 0xFF,
                ])
        }
    }

    @Test func theCatalogueTakesOnlyCodeItRuns() {
        let catalogue = ServiceCatalogue([Self.identity])
        #expect(catalogue.refusal(for: Self.identity) == nil)
        #expect(catalogue.refusal(for: ServiceIdentity(kind: "chat", version: 1, digest: [])) == .unknownKind("chat"))
        #expect(
            catalogue.refusal(for: ServiceIdentity(kind: "voice-relay", version: 2, digest: Self.identity.digest))
                == .otherVersion(wanted: 2, have: [1]))
        #expect(catalogue.refusal(for: ServiceIdentity(kind: "voice-relay", version: 1, digest: [0])) == .otherCode)
    }

    @Test func aTargetRefusesCodeItDoesNotRunAndTheSourceServesOn() {
        let host = MigrationMessage.Peer(name: "peer-1", overlay: "127.0.0.2:4000")
        var target = MigrationTargetStateMachine(catalogue: ServiceCatalogue([]), contact: "127.0.0.3:5000")
        let outputs = target.handle(
            .message(
                .prepare(migration: 1, service: "voice", identity: Self.identity, epoch: 2, standbys: 0, source: host)))
        guard case .send(.refuse(1, let reason))? = outputs.first else {
            Issue.record("no refusal: \(outputs)")
            return
        }
        var source = MigrationSourceStateMachine(
            migration: 1, service: "voice", source: host, identity: Self.identity, epoch: 2, snapshot: (0, 0, []))
        _ = source.handle(.start)
        let answer = source.handle(.message(.refuse(migration: 1, reason: reason)))
        #expect(answer.contains(.resume) && answer.contains(.phase(.aborted)))
        #expect(!answer.contains(.freeze))
    }

    /// However many operations a source holds when it may send them (a slow target lets them pile
    /// up), they go in order, in frames the target takes: at most `maximumOperations` each,
    /// within the frame limit, numbered on from one another.
    @Test func operationsThatPiledUpGoInFramesThatFit() throws {
        let host = MigrationMessage.Peer(name: "peer-1", overlay: "127.0.0.2:4000")
        var source = MigrationSourceStateMachine(
            migration: 1, service: "voice", source: host, identity: Self.identity, epoch: 2, snapshot: (0, 0, []))
        _ = source.handle(.start)
        let small = (1...70_000).map { [UInt8(truncatingIfNeeded: $0)] }
        let large = (1...20).map { [UInt8](repeating: UInt8($0), count: 10_000) }
        for (sequence, operation) in zip(1..., small + large) {
            _ = source.handle(.changed(sequence: UInt64(sequence), operation: operation))
        }
        let outputs = source.handle(.message(.accept(migration: 1, contact: "t:1", data: "t:2")))
        let sent = outputs.compactMap { output -> (first: UInt64, operations: [[UInt8]])? in
            guard case .send(.operations(_, let first, let operations)) = output else { return nil }
            return (first, operations)
        }
        #expect(sent.count >= 70_000 / MigrationMessage.maximumOperations + 4)
        #expect(sent.flatMap(\.operations) == small + large)
        var next: UInt64 = 1
        for (first, operations) in sent {
            #expect(first == next)
            next += UInt64(operations.count)
            let frame = MigrationMessage.operations(migration: 1, first: first, operations: operations).frame
            #expect(frame.count <= 65_535 && operations.count <= MigrationMessage.maximumOperations)
            #expect(
                try MigrationMessage(frame: frame) == .operations(migration: 1, first: first, operations: operations))
        }
    }
}
