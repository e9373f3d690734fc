import OverlayCore

/// A hot standby's heartbeat, over UDP between the primary's data socket and the standby's: the
/// primary sends one every `StandbySettings.heartbeatInterval` stamped with its own monotonic
/// clock, and the standby sends it back (`echo`). UDP, not the overlay's TCP: one lost segment
/// there holds up everything behind it for a retransmission timeout (200 ms at least), longer
/// than the whole failure bound.
///
///     'M' 'H'  version (1)  stream (u64)  epoch (u64)  sent-at (u64, ns)  echo (u8: 0 or 1)
public struct StandbyHeartbeat: MobilityDatagram, Sendable, Equatable {
    public static let magic: (UInt8, UInt8) = (0x4D, 0x48)
    public static let version: UInt8 = 1

    /// The replication stream (the standby's id at the primary).
    public var stream: UInt64
    /// The epoch the primary serves under.
    public var epoch: UInt64
    /// When the primary sent it, on the primary's monotonic clock (an echo carries it back).
    public var sentAt: UInt64
    /// True when the standby sends it back.
    public var echo: Bool

    public init(stream: UInt64, epoch: UInt64, sentAt: UInt64, echo: Bool) {
        self.stream = stream
        self.epoch = epoch
        self.sentAt = sentAt
        self.echo = echo
    }

    public var bytes: [UInt8] {
        var writer = WireWriter()
        writer.append(Self.header)
        writer.integer(stream)
        writer.integer(epoch)
        writer.integer(sentAt)
        writer.integer(UInt8(echo ? 1 : 0))
        return writer.bytes
    }

    public init(bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        try reader.magic(Self.magic, version: Self.version, of: "a standby heartbeat")
        stream = try reader.integer()
        epoch = try reader.epoch()
        sentAt = try reader.integer()
        let offset = reader.offset
        switch try reader.integer(UInt8.self) {
        case 0: echo = false
        case 1: echo = true
        case let other: throw .invalid("echo flag \(other)", offset: offset)
        }
        try reader.finish()
    }
}

/// What a standby that took a service over tells each of its clients, over UDP to the data
/// address the replicated state holds for it: the service is served from `control` and `data`
/// now, under `epoch`. A client follows it only from a standby its service named (`standbys`).
///
///     'M' 'T'  version (1)  epoch (u64)  control (text)  data (text)
public struct TakeoverNotice: MobilityDatagram, Sendable, Equatable {
    public static let magic: (UInt8, UInt8) = (0x4D, 0x54)
    public static let version: UInt8 = 1

    public var epoch: UInt64
    public var control: String
    public var data: String

    public init(epoch: UInt64, control: String, data: String) {
        self.epoch = epoch
        self.control = control
        self.data = data
    }

    public var bytes: [UInt8] {
        var writer = WireWriter()
        writer.append(Self.header)
        writer.integer(epoch)
        writer.text(control)
        writer.text(data)
        return writer.bytes
    }

    public init(bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        try reader.magic(Self.magic, version: Self.version, of: "a takeover notice")
        epoch = try reader.epoch()
        control = try reader.text(limit: 255)
        data = try reader.text(limit: 255)
        guard !control.isEmpty, !data.isEmpty else { throw .invalid("takeover notice without an address", offset: 11) }
        try reader.finish()
    }
}

/// Where a hot standby of a service will serve clients if it takes over: its control listener
/// and its data socket (`ip:port` each).
public struct StandbyAddress: Sendable, Hashable {
    public var control: String
    public var data: String

    public init(control: String, data: String) {
        self.control = control
        self.data = data
    }
}
