/// A datagram of the migration machinery that shares a data socket with a kind's own datagrams
/// (RTP, game ticks): its first two bytes (`magic`) and a version byte tell it apart.
public protocol MobilityDatagram {
    static var magic: (UInt8, UInt8) { get }
    static var version: UInt8 { get }
}

extension MobilityDatagram {
    /// Whether `bytes` start like one of these (its magic), before reading it.
    public static func looksLike(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 3 && bytes[0] == magic.0 && bytes[1] == magic.1
    }

    /// The magic and the version, which every one of these starts with.
    static var header: [UInt8] { [magic.0, magic.1, version] }
}
