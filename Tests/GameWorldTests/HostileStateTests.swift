import GameWire
import Mobility
import OverlayCore
import Testing

@testable import GameWorld

/// A state or an operation from another host is checked before the world does arithmetic with
/// it: a position outside the arena, a direction of more than a step, a sequence number or a
/// next id at the end of its range, and a join beyond what a tick can show are refused, never
/// a trap at the next tick.
struct HostileStateTests {
    static func player(_ id: UInt32) -> GamePlayer {
        GamePlayer(
            id: id, name: "p\(id)", dataAddress: "10.0.0.\(id % 250):\(id)",
            session: SessionID(high: 0, low: UInt64(id)))
    }

    /// A state's snapshot with one player changed by `change`.
    static func snapshot(_ change: (inout GamePlayer) -> Void) throws -> [UInt8] {
        var state = GameState()
        var player = Self.player(1)
        try state.apply(.join(player))
        change(&player)
        try state.apply(.leave(player: 1))
        // The only way in for values `apply` would never make: the bytes themselves.
        var bytes = state.snapshot
        var written = WireWriter()
        player.write(to: &written)
        bytes = try Self.replacingPlayers(in: bytes, with: written.bytes)
        return bytes
    }

    /// `snapshot` with its player list replaced by one player's bytes.
    static func replacingPlayers(in bytes: [UInt8], with player: [UInt8]) throws -> [UInt8] {
        // version (1), sequence (8), tick (4), next player (4), count (2), then the sessions.
        let head = Array(bytes.prefix(1 + 8 + 4 + 4))
        return head + [0, 1] + player + Array(bytes.dropFirst(1 + 8 + 4 + 4 + 2))
    }

    @Test func aSnapshotWithAPlayerOutsideTheArenaOrMovingFasterIsRefused() throws {
        #expect((try? GameState(snapshot: try Self.snapshot { _ in })) != nil)
        for change: (inout GamePlayer) -> Void in [
            { $0.x = .max }, { $0.y = -GameState.arena - 1 }, { $0.dx = 2 }, { $0.dy = -128 },
        ] {
            #expect(throws: WireError.self) { try GameState(snapshot: try Self.snapshot(change)) }
        }
    }

    @Test func aSnapshotAtTheEndOfItsNumbersIsRefused() throws {
        // version (1), sequence (8), tick (4), next player (4): each field at its largest.
        let problems = [
            (1..<9, "sequence number \(UInt64.max) (at most \(WireBounds.sequence))"),
            (13..<17, "next player \(UInt32.max)"),
        ]
        for (field, problem) in problems {
            var bytes = GameState().snapshot
            bytes.replaceSubrange(field, with: repeatElement(0xFF, count: field.count))
            #expect(throws: WireError.invalid(problem, offset: field.lowerBound)) { try GameState(snapshot: bytes) }
        }
    }

    @Test func joinsBeyondATicksPlayersOrTheLastIdAreRefused() throws {
        var state = GameState()
        for id in 1...UInt32(GameTick.maximumPlayers) { try state.apply(.join(Self.player(id))) }
        #expect(throws: GameState.Rejection.full) { try state.apply(.join(Self.player(99))) }
        var empty = GameState()
        #expect(throws: GameState.Rejection.full) { try empty.apply(.join(Self.player(.max))) }
    }
}
