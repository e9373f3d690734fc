import Crypto

/// A point on Chord's ring of 2^160 identifiers: a peer's is the SHA-1 of its `host:port`, a
/// key's the SHA-1 of whatever names it. Compared as unsigned 160-bit numbers; intervals wrap
/// around zero.
public struct ChordID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The number of bits, m in the Chord paper.
    public static let bits = 160
    /// Bits 159...96, 95...32 and 31...0.
    public var high: UInt64
    public var middle: UInt64
    public var low: UInt32

    public init(high: UInt64, middle: UInt64, low: UInt32) {
        self.high = high
        self.middle = middle
        self.low = low
    }

    /// The identifier whose big-endian bytes these are (exactly 20).
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 20, "a Chord identifier has 20 bytes")
        var words = (UInt64(0), UInt64(0), UInt32(0))
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 0..<8: words.0 = words.0 << 8 | UInt64(byte)
            case 8..<16: words.1 = words.1 << 8 | UInt64(byte)
            default: words.2 = words.2 << 8 | UInt32(byte)
            }
        }
        self.init(high: words.0, middle: words.1, low: words.2)
    }

    /// The SHA-1 of the text's UTF-8 bytes.
    public static func hashing(_ text: String) -> ChordID {
        ChordID(bytes: Array(Insecure.SHA1.hash(data: Array(text.utf8))))
    }

    /// Parses 40 hexadecimal digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 40 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes: bytes)
    }

    /// The 20 big-endian bytes.
    public var bytes: [UInt8] {
        (0..<8).reversed().map { UInt8(truncatingIfNeeded: high >> ($0 * 8)) }
            + (0..<8).reversed().map { UInt8(truncatingIfNeeded: middle >> ($0 * 8)) }
            + (0..<4).reversed().map { UInt8(truncatingIfNeeded: low >> ($0 * 8)) }
    }

    /// 40 lowercase hexadecimal digits.
    public var description: String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }

    public static func < (lhs: ChordID, rhs: ChordID) -> Bool {
        if lhs.high != rhs.high { return lhs.high < rhs.high }
        if lhs.middle != rhs.middle { return lhs.middle < rhs.middle }
        return lhs.low < rhs.low
    }

    /// (self + other) mod 2^160.
    public func adding(_ other: ChordID) -> ChordID {
        let (low, lowCarry) = low.addingReportingOverflow(other.low)
        var (middle, middleCarry) = middle.addingReportingOverflow(other.middle)
        var carry2 = false
        if lowCarry { (middle, carry2) = middle.addingReportingOverflow(1) }
        var high = high &+ other.high
        if middleCarry || carry2 { high = high &+ 1 }
        return ChordID(high: high, middle: middle, low: low)
    }

    /// (self + 2^exponent) mod 2^160: the start of finger `exponent`.
    public func addingPowerOfTwo(_ exponent: Int) -> ChordID {
        precondition((0..<Self.bits).contains(exponent), "exponents run from 0 to 159")
        let power =
            switch exponent {
            case 0..<32: ChordID(high: 0, middle: 0, low: 1 << UInt32(exponent))
            case 32..<96: ChordID(high: 0, middle: 1 << UInt64(exponent - 32), low: 0)
            default: ChordID(high: 1 << UInt64(exponent - 96), middle: 0, low: 0)
            }
        return adding(power)
    }

    /// True when self lies in the ring interval (from, to]. When from == to the interval is the
    /// whole ring (a single node is the successor of every key).
    public func isIn(after from: ChordID, upTo to: ChordID) -> Bool {
        if from < to { return from < self && self <= to }
        if to < from { return self > from || self <= to }
        return true
    }

    /// True when self lies strictly between from and to, going clockwise. When from == to
    /// that is every identifier but from.
    public func isStrictly(between from: ChordID, and to: ChordID) -> Bool {
        if from < to { return from < self && self < to }
        if to < from { return self > from || self < to }
        return self != from
    }
}
