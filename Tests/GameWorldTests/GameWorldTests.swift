import GameWire
import Mobility
import OverlayCore
import Testing

@testable import GameWorld

/// The game server without I/O: joins, inputs applied once and in order, ticks to every
/// player, and a state that a replica rebuilds from a snapshot and the operations.
struct GameWorldTests {
    static func request(_ message: GameMessage, _ sequence: UInt64) -> SessionMessage {
        .request(sequence: sequence, body: message.frame)
    }

    /// Opens a session on `connection` and joins as `name`, receiving at `address`.
    static func join(_ world: inout GameWorld, on connection: Int, name: String, address: String) -> [GameWorld.Output]
    {
        world.handle(.message(from: connection, .open(client: name)))
            + world.handle(.message(from: connection, request(.join(name: name, dataAddress: address), 1)))
    }

    static func pushes(_ outputs: [GameWorld.Output], to connection: Int) -> [GameMessage] {
        outputs.compactMap {
            guard case .send(connection, .push(let body)) = $0 else { return nil }
            return try? GameMessage(frame: body)
        }
    }

    static func ticks(_ outputs: [GameWorld.Output]) -> [(tick: GameTick, to: [String])] {
        outputs.compactMap {
            guard case .datagram(let bytes, let targets) = $0, let tick = try? GameTick(bytes: bytes) else {
                return nil
            }
            return (tick, targets)
        }
    }

    @Test func playersJoinMoveByTheirInputsAndGetEveryTick() throws {
        var world = GameWorld(dataAddress: "10.0.0.1:9000", secrets: .seeded(SeededGenerator(seed: 1)))
        let welcome = Self.pushes(Self.join(&world, on: 1, name: "a", address: "10.0.0.2:1"), to: 1)
        #expect(welcome == [.welcome(player: 1, tick: 0)])
        _ = Self.join(&world, on: 2, name: "b", address: "10.0.0.3:1")
        let applied = world.handle(.message(from: 1, Self.request(.input(number: 1, dx: 1, dy: -1), 2)))
        #expect(applied.contains(.emit(.inputApplied(player: 1, input: 1, tick: 1))))
        #expect(applied.contains(.send(to: 1, .applied(sequence: 2))))
        var last: GameTick?
        for expected in 1...3 as ClosedRange<UInt32> {
            let sent = Self.ticks(world.handle(.tick))
            #expect(sent.count == 1)
            #expect(sent.first?.to == ["10.0.0.2:1", "10.0.0.3:1"])
            #expect(sent.first?.tick.tick == expected)
            last = sent.first?.tick
        }
        let mover = try #require(last?.players.first { $0.id == 1 })
        #expect(mover.x == 3 * GameState.speed && mover.y == -3 * GameState.speed && mover.score == 3)
        #expect(mover.lastInput == 1 && mover.inputsApplied == 1)
        let still = try #require(last?.players.first { $0.id == 2 })
        #expect(still.x == 0 && still.score == 0)
    }

    @Test func anInputSentTwiceIsAppliedOnce() {
        var world = GameWorld(dataAddress: "10.0.0.1:9000", secrets: .seeded(SeededGenerator(seed: 2)))
        _ = Self.join(&world, on: 1, name: "a", address: "10.0.0.2:1")
        let input = Self.request(.input(number: 1, dx: 1, dy: 0), 2)
        _ = world.handle(.message(from: 1, input))
        // Resent after a move, and forwarded late by the old host.
        #expect(world.handle(.message(from: 1, input)) == [.send(to: 1, .applied(sequence: 2))])
        let session = world.session(on: 1)!
        #expect(world.handle(.late(session: session, input)) == [.send(to: 1, .applied(sequence: 2))])
        #expect(world.state.players.first?.inputsApplied == 1)
    }

    @Test func theWorldRefusesWhatDoesNotFit() {
        var world = GameWorld(dataAddress: "10.0.0.1:9000", secrets: .seeded(SeededGenerator(seed: 3)))
        let early =
            world.handle(.message(from: 1, .open(client: "a")))
            + world.handle(.message(from: 1, Self.request(.input(number: 1, dx: 1, dy: 0), 1)))
        #expect(Self.pushes(early, to: 1) == [.refused(reason: "not joined")])
        _ = world.handle(.message(from: 1, Self.request(.join(name: "a", dataAddress: "10.0.0.2:1"), 2)))
        _ = world.handle(.message(from: 2, .open(client: "b")))
        let taken = world.handle(.message(from: 2, Self.request(.join(name: "b", dataAddress: "10.0.0.2:1"), 1)))
        #expect(Self.pushes(taken, to: 2) == [.refused(reason: "another player receives at 10.0.0.2:1")])
        #expect(world.state.players.count == 1)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func aSnapshotPlusTheJournaledOperationsIsTheState(seed: UInt64) throws {
        var world = GameWorld(dataAddress: "10.0.0.1:9000", secrets: .seeded(SeededGenerator(seed: seed)))
        _ = Self.join(&world, on: 1, name: "a", address: "10.0.0.2:1")
        let snapshot = world.snapshot
        world.journaling = true
        var random = SeededGenerator(seed: seed)
        var outputs: [GameWorld.Output] = []
        var next: [Int: UInt64] = [1: 2]
        var inputs: [Int: UInt32] = [1: 0]
        for connection in 2...4 {
            outputs += Self.join(&world, on: connection, name: "p\(connection)", address: "10.0.0.\(connection):1")
            next[connection] = 2
            inputs[connection] = 0
        }
        for _ in 0..<200 {
            let connection = Int(random.next() % 4) + 1
            if random.next() % 3 == 0 {
                outputs += world.handle(.tick)
            } else {
                inputs[connection]! += 1
                let input = GameMessage.input(
                    number: inputs[connection]!, dx: Int8(Int(random.next() % 3) - 1),
                    dy: Int8(Int(random.next() % 3) - 1))
                outputs += world.handle(.message(from: connection, Self.request(input, next[connection]!)))
                next[connection]! += 1
            }
        }
        var replica = try GameWorld(
            snapshot: snapshot, dataAddress: "10.0.0.9:9000", secrets: .seeded(SeededGenerator(seed: 99)))
        var expected = replica.sequence + 1
        for case .changed(let sequence, let operation) in outputs {
            #expect(sequence == expected)
            expected += 1
            try replica.replay(operation)
        }
        #expect(replica.state == world.state)
        #expect(try GameState(snapshot: world.snapshot) == world.state)
        #expect(world.state.players.allSatisfy { $0.inputsApplied == $0.lastInput })
        #expect(world.state.tick > 20)
    }

    @Test func everyProperPrefixOfASnapshotIsRejected() throws {
        var world = GameWorld(dataAddress: "10.0.0.1:9000", secrets: .seeded(SeededGenerator(seed: 4)))
        _ = Self.join(&world, on: 1, name: "a", address: "10.0.0.2:1")
        _ = world.handle(.tick)
        let snapshot = world.snapshot
        for length in 0..<snapshot.count {
            #expect(throws: WireError.self) { try GameState(snapshot: Array(snapshot.prefix(length))) }
        }
    }

    @Test(arguments: [
        GameMessage.join(name: "bot-1", dataAddress: "10.0.0.2:4000"), .input(number: 7, dx: -1, dy: 1), .leave,
        .welcome(player: 3, tick: 99), .refused(reason: "full"),
    ])
    func aMessageReadsBackAndNoProperPrefixReads(message: GameMessage) throws {
        #expect(try GameMessage(frame: message.frame) == message)
        for length in 0..<message.frame.count {
            #expect(throws: WireError.self) { try GameMessage(frame: Array(message.frame.prefix(length))) }
        }
    }

    @Test(arguments: [
        GameOperation.session(
            id: SessionID(high: 1, low: 5),
            SessionTable.Session(client: "a", token: SessionToken(high: .max, low: 9), appliedThrough: 3)),
        .session(id: SessionID(high: 0, low: 5), nil), .leave(player: 2), .input(player: 1, number: 4, dx: 1, dy: 0),
        .tick, .join(GamePlayer(id: 3, name: "c", dataAddress: "10.0.0.4:1", session: SessionID(high: 7, low: 77))),
    ])
    func anOperationReadsBack(operation: GameOperation) throws {
        #expect(try GameOperation(bytes: operation.bytes) == operation)
    }
}

/// The game's datagram, as the judge reads it.
struct GameTickTests {
    static let sample = GameTick(
        tick: 0xDEAD_BEEF,
        players: [
            GameTick.Player(id: 1, x: -5, y: 1000, score: 7, lastInput: 3, inputsApplied: 3),
            GameTick.Player(id: 2, x: 0, y: -1000, score: 0, lastInput: 0, inputsApplied: 0),
        ])

    @Test func aTickReadsBackAndItsLayoutIsTheDocumentedOne() throws {
        let bytes = Self.sample.bytes
        #expect(bytes.count == GameTick.headerSize + 2 * GameTick.playerSize)
        #expect(Array(bytes.prefix(8)) == [0x53, 0x47, 1, 2, 0xDE, 0xAD, 0xBE, 0xEF])
        // Player 1's x, -5 as a 32-bit two's complement.
        #expect(Array(bytes[12..<16]) == [0xFF, 0xFF, 0xFF, 0xFB])
        #expect(try GameTick(bytes: bytes) == Self.sample)
        #expect(bytes.withUnsafeBytes(GameTick.looksLikeGameTick))
    }

    @Test func malformedTicksSayWhy() {
        let bytes = Self.sample.bytes
        for length in 0..<bytes.count {
            #expect(throws: GameTick.DecodingError.self) { try GameTick(bytes: Array(bytes.prefix(length))) }
        }
        #expect(throws: GameTick.DecodingError.trailingBytes(offset: bytes.count)) { try GameTick(bytes: bytes + [0]) }
        #expect(throws: GameTick.DecodingError.notAGameTick) { try GameTick(bytes: [0x80, 0x00] + bytes.dropFirst(2)) }
        var future = bytes
        future[2] = 2
        #expect(throws: GameTick.DecodingError.unknownVersion(2)) { try GameTick(bytes: future) }
        var crowded = bytes
        crowded[3] = 33
        #expect(throws: GameTick.DecodingError.tooManyPlayers(33)) { try GameTick(bytes: crowded) }
    }
}
