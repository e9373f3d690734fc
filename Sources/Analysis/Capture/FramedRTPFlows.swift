import RTP

/// TCP flows carrying RTP framed as RFC 4571 does it (a 16-bit length before each packet, as
/// RTSP interleaving and some WebRTC servers send it). The analysis does not reassemble TCP,
/// so it reports such flows as skipped instead of passing over them in silence.
struct FramedRTPFlows {
    private struct Flow: Hashable {
        var source: Endpoint
        var destination: Endpoint
    }

    private var candidates: [Flow: StreamCandidate] = [:]
    private var confirmed: [Flow: Int] = [:]

    /// A TCP segment's payload: counted when it starts with a framed RTP packet.
    mutating func add(_ segment: Segment, at microseconds: Int64) {
        let payload = segment.payload
        guard payload.count >= 14 else { return }
        let length = Int(payload[0]) << 8 | Int(payload[1])
        guard length >= 12, length + 2 <= payload.count else { return }
        let packet = UnsafeRawBufferPointer(rebasing: payload[2..<(2 + length)])
        guard !RTPStreams.isRTCP(packet), let header = try? RTPHeader(bytes: packet, lenient: true) else { return }
        let flow = Flow(source: segment.source, destination: segment.destination)
        if let packets = confirmed[flow] {
            confirmed[flow] = packets + 1
            return
        }
        let observation = RTPObservation(header, payload: packet, sender: segment.source, at: microseconds, bytes: 0)
        switch candidates[flow, default: StreamCandidate()].offer(observation) {
        case .held: break
        case .setAside: break
        case .confirmed(let packets):
            candidates[flow] = nil
            confirmed[flow] = packets.count
        }
    }

    /// The flows found, busiest first.
    var skipped: [SkippedTraffic] {
        confirmed.map {
            SkippedTraffic(
                what: "RTP over TCP (RFC 4571): not analysed", flow: "\($0.key.source) -> \($0.key.destination)",
                packets: $0.value)
        }.sorted { ($0.packets, $1.flow) > ($1.packets, $0.flow) }
    }
}

/// Traffic the analysis recognised but does not measure (`capture.skipped[]`).
public struct SkippedTraffic: Sendable, Equatable, Codable {
    /// What it is and why it is not measured.
    public var what: String
    /// `source -> destination`.
    public var flow: String
    /// Segments that carried it.
    public var packets: Int
}
