/// The extended sequence numbers a stream has received, as a sparse bitmap: one 64-bit word
/// per 64 consecutive numbers that hold at least one packet, so memory follows the packets
/// received and never the numbers a sender (or a corrupt file) jumps over.
struct SequenceBitmap {
    private var words: [Int64: UInt64] = [:]
    /// The word most packets touch (the newest one), kept out of the dictionary.
    private var currentIndex: Int64 = .min
    private var current: UInt64 = 0

    /// Marks `sequence` as received; false when it already was (a duplicate).
    mutating func insert(_ sequence: Int64) -> Bool {
        let index = sequence >> 6
        let bit = UInt64(1) << UInt64(sequence & 63)
        if index != currentIndex {
            if currentIndex != .min { words[currentIndex] = current }
            current = words.removeValue(forKey: index) ?? 0
            currentIndex = index
        }
        guard current & bit == 0 else { return false }
        current |= bit
        return true
    }
}
