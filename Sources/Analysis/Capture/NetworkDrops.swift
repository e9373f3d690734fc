import GameWire
import RTP

/// What the emulated network dropped (netns mode: `drops.pcap`, every packet the links
/// delivered to nobody), read for the media the judge knows: each RTP packet by SSRC and
/// sequence number with the host it was on its way to, each game tick by its receiver, and the
/// RTP packets a migration's source forwarded as late datagrams. With it a hole in a stream at a
/// receiver is the network's when that receiver's copy was dropped, or the packet was dropped
/// on its way to a host that forwards the stream (the relay, or a target receiving late data);
/// every other hole is the service's.
public struct NetworkDrops: Sendable, Equatable {
    struct PacketKey: Hashable {
        var ssrc: UInt32
        var sequence: UInt16
    }

    struct TickKey: Hashable {
        var receiver: String
        var tick: UInt32
    }

    /// The hosts each RTP packet was dropped on its way to; `forwarded` marks a late datagram's.
    private(set) var rtp: [PacketKey: Set<String>] = [:]
    private(set) var ticks: Set<TickKey> = []
    /// Records in the file, and why it ended early (a corrupt record), if it did.
    public private(set) var packets = 0
    public private(set) var error: String?

    static let forwarded = "forwarded"

    /// Reads a drops capture (any link type the capture reader reads); a corrupt record ends it
    /// with `error` set, keeping what came before.
    public init(_ bytes: UnsafeRawBufferPointer) throws(CaptureError) {
        let format: PcapFormat
        do throws(PcapError) { format = try PcapReader.format(of: bytes) } catch { throw .pcap(error) }
        guard let linkType = LinkType(rawValue: format.linkType) else { throw .unknownLinkType(format.linkType) }
        var reader = Reader(drops: self, format: format, linkType: linkType)
        do throws(PcapError) {
            let stopped = try PcapReader.read(bytes, into: &reader).stoppedBy
            self = reader.drops
            error = stopped?.description
        } catch {
            throw .pcap(error)
        }
    }

    /// Reads each record of a drops capture into `drops`.
    private struct Reader: PcapRecordVisitor {
        var drops: NetworkDrops
        let format: PcapFormat
        let linkType: LinkType

        mutating func visit(_ record: PcapRecord) {
            drops.packets += 1
            let link = record.linkType == format.linkType ? linkType : LinkType(rawValue: record.linkType)
            guard let link,
                case .segment(let segment) = PacketDecoder.decode(
                    record.data, linkType: link, truncated: record.originalLength > record.data.count),
                segment.transport == .udp
            else { return }
            drops.add(segment.payload, to: segment.destination.host)
        }
    }

    /// Reads a drops capture file.
    public static func read(file path: String) throws(CaptureError) -> NetworkDrops {
        try CaptureAnalysis.readMapped(path) { bytes throws(CaptureError) in try NetworkDrops(bytes) }
    }

    private mutating func add(_ payload: UnsafeRawBufferPointer, to host: String) {
        if let tick = try? GameTick(bytes: payload) {
            ticks.insert(TickKey(receiver: host, tick: tick.tick))
        } else if let header = try? RTPHeader(bytes: payload, lenient: true) {
            rtp[PacketKey(ssrc: header.ssrc, sequence: header.sequenceNumber), default: []].insert(host)
        } else if let inner = Self.lateDatagramPacket(payload),
            let header = try? RTPHeader(bytes: inner, lenient: true)
        {
            rtp[PacketKey(ssrc: header.ssrc, sequence: header.sequenceNumber), default: []].insert(Self.forwarded)
        }
    }

    /// The packet inside a late datagram, read by its documented layout (the judge does not
    /// import the code that writes it): `'M' 'L'`, version 1, the migration (8 bytes), then the
    /// traffic: kind 1 (data), the sender (16-bit length and text), the packet (16-bit length).
    static func lateDatagramPacket(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard bytes.count >= 15, bytes[0] == 0x4D, bytes[1] == 0x4C, bytes[2] == 1, bytes[11] == 1 else { return nil }
        let senderLength = Int(bytes[12]) << 8 | Int(bytes[13])
        let lengthAt = 14 + senderLength
        guard bytes.count >= lengthAt + 2 else { return nil }
        let length = Int(bytes[lengthAt]) << 8 | Int(bytes[lengthAt + 1])
        guard bytes.count == lengthAt + 2 + length else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[(lengthAt + 2)...])
    }

    /// Whether the network dropped packet `sequence` of `ssrc` for `receiver` (a host), given
    /// the hosts that send the stream on (`forwarders`).
    func dropped(ssrc: UInt32, sequence: UInt16, receiver: String, forwarders: Set<String>) -> Bool {
        guard let hosts = rtp[PacketKey(ssrc: ssrc, sequence: sequence)] else { return false }
        return hosts.contains(receiver) || hosts.contains(Self.forwarded) || !hosts.isDisjoint(with: forwarders)
    }

    /// Whether the network dropped tick `tick` on its way to `receiver` (a host).
    func dropped(tick: UInt32, receiver: String) -> Bool { ticks.contains(TickKey(receiver: receiver, tick: tick)) }
}
