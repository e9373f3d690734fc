import OverlayCore
import Testing

@testable import VoiceRelay

/// The relay's state as the thing a migration moves: a snapshot plus the operations after it
/// rebuild it exactly, every byte form decodes back, and malformed bytes are refused with their
/// offset.
struct RelayStateTests {
    /// A relay's life under a seeded mix of joins, leaves, packets and strangers, with every
    /// operation it made in order.
    static func life(seed: UInt64, steps: Int) -> (state: RelayState, operations: [RelayOperation]) {
        var random = SeededGenerator(seed: seed)
        var relay = RelayInstance(dataAddress: "10.0.0.1:4000", seed: seed)
        var replayed = RelayState()
        var operations: [RelayOperation] = []
        var connections: [Int] = []
        var nextConnection = 1
        for _ in 0..<steps {
            let before = relay.state
            let roll = random.nextUnitInterval()
            if roll < 0.15 || connections.isEmpty {
                _ = relay.handle(
                    .message(from: nextConnection, .join(name: "peer-\(nextConnection)", dataAddress: "10.0.0.2:\(nextConnection)")))
                connections.append(nextConnection)
                nextConnection += 1
            } else if roll < 0.25 {
                let connection = connections.remove(at: Int(random.next() % UInt64(connections.count)))
                _ = relay.handle(roll < 0.2 ? .message(from: connection, .leave) : .disconnected(connection))
            } else if roll < 0.3 {
                _ = relay.handle(.datagram(from: "10.9.9.9:1", bytes: 40, isRTP: roll < 0.28))
            } else {
                let connection = connections[Int(random.next() % UInt64(connections.count))]
                _ = relay.handle(.datagram(from: "10.0.0.2:\(connection)", bytes: 40 + Int(random.next() % 60), isRTP: true))
            }
            // Recover the operation from the change, the way a log would carry it.
            if relay.state.sequence > before.sequence {
                let operation = Self.operation(from: before, to: relay.state)
                operations.append(operation)
                _ = try? replayed.apply(operation)
                #expect(replayed == relay.state, "replay diverged at \(operations.count): \(operation)")
            }
        }
        return (relay.state, operations)
    }

    /// The one operation that turns `before` into `after` (each step makes at most one).
    static func operation(from before: RelayState, to after: RelayState) -> RelayOperation {
        if after.participants.count > before.participants.count { return .join(after.participants.last!) }
        if after.participants.count < before.participants.count {
            let gone = before.participants.first { p in !after.participants.contains { $0.id == p.id } }!
            return .leave(participant: gone.id)
        }
        if after.counters.droppedUnknownSender > before.counters.droppedUnknownSender {
            return .dropped(.unknownSender, bytes: 40)
        }
        if after.counters.droppedMalformed > before.counters.droppedMalformed { return .dropped(.malformed, bytes: 40) }
        let sender = after.participants.first { p in before.participant(p.id)?.packetsFrom != p.packetsFrom }!
        let bytes = sender.bytesFrom - before.participant(sender.id)!.bytesFrom
        return .forwarded(
            participant: sender.id, bytes: UInt32(bytes),
            copies: UInt32(after.counters.forwarded - before.counters.forwarded))
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
            #expect(moved == state, "cut at \(cut)")
        }
    }

    @Test func anOperationThatDoesNotFitLeavesTheStateAsItWas() throws {
        var state = RelayState()
        try state.apply(.join(Participant(id: 1, name: "a", dataAddress: "x:1", session: 1, resumeToken: 2)))
        let before = state
        #expect(throws: RelayState.Rejection.staleIdentifier(1)) {
            try state.apply(.join(Participant(id: 1, name: "b", dataAddress: "x:2", session: 3, resumeToken: 4)))
        }
        #expect(throws: RelayState.Rejection.duplicateDataAddress("x:1")) {
            try state.apply(.join(Participant(id: 2, name: "b", dataAddress: "x:1", session: 3, resumeToken: 4)))
        }
        #expect(throws: RelayState.Rejection.unknownParticipant(7)) { try state.apply(.leave(participant: 7)) }
        #expect(throws: RelayState.Rejection.unknownParticipant(7)) {
            try state.apply(.forwarded(participant: 7, bytes: 1, copies: 1))
        }
        #expect(state == before)
    }

    @Test func everyProperPrefixOfASnapshotIsRejected() throws {
        let bytes = Self.life(seed: 9, steps: 60).state.snapshot
        for length in 0..<bytes.count {
            #expect(throws: WireError.self) { try RelayState(snapshot: Array(bytes.prefix(length))) }
        }
        #expect(throws: WireError.trailingBytes(offset: bytes.count)) { try RelayState(snapshot: bytes + [0]) }
        var wrongVersion = bytes
        wrongVersion[0] = 2
        #expect(throws: WireError.unsupportedVersion(2)) { try RelayState(snapshot: wrongVersion) }
    }
}
