import Mobility
import OverlayCore
import Testing

@testable import VoiceRelay

/// The relay's state as the thing a migration moves: a snapshot plus the operations after it
/// rebuild who it serves exactly (the traffic counters travel in snapshots only), every byte
/// form decodes back, and malformed bytes are refused with their offset.
struct RelayStateTests {
    /// A relay's life under a seeded mix of joins, leaves, lost channels, resumes, packets and
    /// strangers, with every operation it made in order (its journal).
    static func life(seed: UInt64, steps: Int) -> (state: RelayState, operations: [RelayOperation]) {
        var random = SeededGenerator(seed: seed)
        var relay = RelayInstance(dataAddress: "10.0.0.1:4000", secrets: .seeded(SeededGenerator(seed: seed ^ 1)))
        relay.journaling = true
        var replayed = RelayState()
        var operations: [RelayOperation] = []
        var connections: [Int] = []
        var nextConnection = 1
        for _ in 0..<steps {
            let roll = random.nextUnitInterval()
            var outputs: [RelayInstance.Output] = []
            if roll < 0.15 || connections.isEmpty {
                outputs = RelayInstanceTests.join(
                    &relay, on: nextConnection, name: "peer-\(nextConnection)", address: "10.0.0.2:\(nextConnection)")
                connections.append(nextConnection)
                nextConnection += 1
            } else if roll < 0.2 {
                let connection = connections.remove(at: Int(random.next() % UInt64(connections.count)))
                outputs = relay.handle(.message(from: connection, RelayInstanceTests.request(.leave, 2)))
            } else if roll < 0.25 {
                // The channel breaks and the client resumes on a new one.
                let index = Int(random.next() % UInt64(connections.count))
                let connection = connections[index]
                let session = relay.session(on: connection)!
                let token = relay.state.sessions.sessions[session]!.token
                outputs = relay.handle(.disconnected(connection))
                outputs += relay.handle(.message(from: nextConnection, .resume(session: session, token: token)))
                connections[index] = nextConnection
                nextConnection += 1
            } else if roll < 0.3 {
                outputs = relay.datagram(from: "10.9.9.9:1", bytes: 40, isRTP: roll < 0.28)
            } else {
                let connection = connections[Int(random.next() % UInt64(connections.count))]
                let address = relay.state.participants.first { $0.session == relay.session(on: connection) }?
                    .dataAddress
                outputs = relay.datagram(
                    from: address ?? "10.9.9.9:2", bytes: 40 + Int(random.next() % 60), isRTP: true)
            }
            for case .changed(let sequence, let bytes) in outputs {
                guard let operation = try? RelayOperation(bytes: bytes) else {
                    Issue.record("the relay journaled an operation that does not read")
                    continue
                }
                operations.append(operation)
                #expect(sequence == UInt64(operations.count))
                _ = try? replayed.apply(operation)
            }
            #expect(replayed == relay.state.withoutTraffic, "replay diverged at \(operations.count)")
        }
        return (relay.state, operations)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func aSnapshotPlusTheLaterOperationsIsTheState(seed: UInt64) throws {
        let (state, operations) = Self.life(seed: seed, steps: 400)
        #expect(state.sequence == UInt64(operations.count))
        // Cut the log anywhere: snapshot the replay there, ship the rest as bytes.
        for cut in [0, 1, operations.count / 3, operations.count / 2, operations.count] {
            var prefix = RelayState()
            for operation in operations[..<cut] { try prefix.apply(operation) }
            var moved = try RelayState(snapshot: prefix.snapshot)
            #expect(moved == prefix)
            for operation in operations[cut...] { try moved.apply(try RelayOperation(bytes: operation.bytes)) }
            #expect(moved == state.withoutTraffic, "cut at \(cut)")
        }
        // The counters travel in a snapshot.
        #expect(state.counters.received > 0)
        #expect(try RelayState(snapshot: state.snapshot) == state)
    }

    @Test func anOperationThatDoesNotFitLeavesTheStateAsItWas() throws {
        var state = RelayState()
        try state.apply(.join(Participant(id: 1, name: "a", dataAddress: "x:1", session: SessionID(high: 0, low: 1))))
        let before = state
        #expect(throws: RelayState.Rejection.staleIdentifier(1)) {
            try state.apply(
                .join(Participant(id: 1, name: "b", dataAddress: "x:2", session: SessionID(high: 0, low: 3))))
        }
        #expect(throws: RelayState.Rejection.duplicateDataAddress("x:1")) {
            try state.apply(
                .join(Participant(id: 2, name: "b", dataAddress: "x:1", session: SessionID(high: 0, low: 3))))
        }
        #expect(throws: RelayState.Rejection.unknownParticipant(7)) { try state.apply(.leave(participant: 7)) }
        #expect(state == before)
    }

    @Test func everyProperPrefixOfASnapshotIsRejected() throws {
        let bytes = Self.life(seed: 9, steps: 60).state.snapshot
        for length in 0..<bytes.count {
            #expect(throws: WireError.self) { try RelayState(snapshot: Array(bytes.prefix(length))) }
        }
        #expect(throws: WireError.trailingBytes(offset: bytes.count)) { try RelayState(snapshot: bytes + [0]) }
        var wrongVersion = bytes
        wrongVersion[0] = 1
        #expect(throws: WireError.unsupportedVersion(1)) { try RelayState(snapshot: wrongVersion) }
    }
}
