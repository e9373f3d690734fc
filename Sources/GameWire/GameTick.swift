/// One tick of a game world, as its server sends it to every player over UDP: the tick number
/// and every player's state after it. The format stands alone (as RTP does), so the judge reads
/// a capture without knowing the game:
///
///     offset 0  'S' 'G'        magic
///            2  version (1)
///            3  player count   (at most `maximumPlayers`)
///            4  tick           UInt32, big-endian, one more each tick
///            8  players        24 bytes each, big-endian:
///                              id UInt32, x Int32, y Int32, score UInt32,
///                              lastInput UInt32 (the sequence number of the last input applied),
///                              inputsApplied UInt32 (how many inputs were applied in all)
///
/// Inputs are numbered from 1 by each player and applied in order exactly once, so in every
/// tick `inputsApplied == lastInput` for every player; a tick where it is not shows an input
/// applied twice or skipped.
public struct GameTick: Sendable, Equatable {
    public static let magic: (UInt8, UInt8) = (0x53, 0x47)
    public static let version: UInt8 = 1
    public static let headerSize = 8
    public static let playerSize = 24
    /// 8 + 32 × 24 = 776 bytes at most: one datagram on any link.
    public static let maximumPlayers = 32

    /// One player's state in a tick.
    public struct Player: Sendable, Equatable {
        public var id: UInt32
        public var x: Int32
        public var y: Int32
        public var score: UInt32
        public var lastInput: UInt32
        public var inputsApplied: UInt32

        public init(id: UInt32, x: Int32, y: Int32, score: UInt32, lastInput: UInt32, inputsApplied: UInt32) {
            self.id = id
            self.x = x
            self.y = y
            self.score = score
            self.lastInput = lastInput
            self.inputsApplied = inputsApplied
        }
    }

    public var tick: UInt32
    public var players: [Player]

    public init(tick: UInt32, players: [Player]) {
        precondition(players.count <= Self.maximumPlayers, "a tick holds at most \(Self.maximumPlayers) players")
        self.tick = tick
        self.players = players
    }

    /// Why bytes are not a game tick; `offset` is where the reading stopped.
    public enum DecodingError: Error, Equatable, CustomStringConvertible {
        case truncated(offset: Int)
        case notAGameTick
        case unknownVersion(UInt8)
        case tooManyPlayers(Int)
        case trailingBytes(offset: Int)

        public var description: String {
            switch self {
            case .truncated(let offset): "truncated game tick at offset \(offset)"
            case .notAGameTick: "not a game tick (no 'SG' magic)"
            case .unknownVersion(let version): "game tick version \(version), not \(GameTick.version)"
            case .tooManyPlayers(let count): "a game tick of \(count) players (at most \(GameTick.maximumPlayers))"
            case .trailingBytes(let offset): "bytes after the last player, from offset \(offset)"
            }
        }
    }

    /// Whether `bytes` start like a game tick (magic and version): what the judge tries first.
    public static func looksLikeGameTick(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= headerSize && bytes[0] == magic.0 && bytes[1] == magic.1 && bytes[2] == version
    }

    public init(bytes: UnsafeRawBufferPointer) throws(DecodingError) {
        guard bytes.count >= 2 else { throw .truncated(offset: bytes.count) }
        guard bytes[0] == Self.magic.0, bytes[1] == Self.magic.1 else { throw .notAGameTick }
        guard bytes.count >= Self.headerSize else { throw .truncated(offset: bytes.count) }
        guard bytes[2] == Self.version else { throw .unknownVersion(bytes[2]) }
        let count = Int(bytes[3])
        guard count <= Self.maximumPlayers else { throw .tooManyPlayers(count) }
        let end = Self.headerSize + count * Self.playerSize
        guard bytes.count >= end else { throw .truncated(offset: bytes.count) }
        guard bytes.count == end else { throw .trailingBytes(offset: end) }
        tick = Self.word(bytes, at: 4)
        players = (0..<count).map { index in
            let base = Self.headerSize + index * Self.playerSize
            return Player(
                id: Self.word(bytes, at: base), x: Int32(bitPattern: Self.word(bytes, at: base + 4)),
                y: Int32(bitPattern: Self.word(bytes, at: base + 8)), score: Self.word(bytes, at: base + 12),
                lastInput: Self.word(bytes, at: base + 16), inputsApplied: Self.word(bytes, at: base + 20))
        }
    }

    public init(bytes: [UInt8]) throws(DecodingError) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(DecodingError) in try GameTick(bytes: buffer) }
        }
        self = try result.get()
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = [Self.magic.0, Self.magic.1, Self.version, UInt8(players.count)]
        out.reserveCapacity(Self.headerSize + players.count * Self.playerSize)
        Self.append(tick, to: &out)
        for player in players {
            for word in [
                player.id, UInt32(bitPattern: player.x), UInt32(bitPattern: player.y), player.score, player.lastInput,
                player.inputsApplied,
            ] {
                Self.append(word, to: &out)
            }
        }
        return out
    }

    private static func word(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    private static func append(_ word: UInt32, to out: inout [UInt8]) {
        out += [
            UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8),
            UInt8(truncatingIfNeeded: word),
        ]
    }
}
