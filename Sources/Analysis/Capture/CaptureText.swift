extension CaptureReport {
    /// The terminal form of a capture's figures.
    public func text(file: String) -> String {
        var out: [String] = []
        let c = capture
        let span = (c.start != nil && c.end != nil) ? " over \(format(c.end! - c.start!, 3)) s" : ""
        out.append("\(file)  (\(c.linkType))")
        out.append(
            "capture   \(c.packets) packets, \(c.bytes) bytes\(span)\(c.partial ? "  PARTIAL: \(c.error ?? "")" : "")")
        out.append(
            "traffic   \(c.rtpPackets) RTP · \(c.nonRtpUdpPackets) other UDP (\(c.rtcpPackets) RTCP, "
                + "\(c.setAsidePackets) RTP-like set aside) · \(c.tcpPackets) TCP · \(c.otherPackets) other · "
                + "\(c.malformedPackets) malformed")
        for skipped in c.skipped {
            out.append("skipped   \(skipped.what): \(skipped.flow), \(skipped.packets) segments")
        }
        out.append("")
        let header = ["ssrc", "receiver", "from", "clock", "packets", "lost", "dup", "reord", "max gap", "jitter"]
        let rows = streams.map { stream -> [String] in
            [
                stream.ssrc, stream.receiver,
                stream.senders.count == 1 ? stream.senders[0] : "\(stream.senders.count) senders",
                "\(stream.clockRate) Hz \(stream.clockRateSource.rawValue)", String(stream.packets),
                String(stream.lost), String(stream.duplicates), String(stream.reordered),
                "\(format(stream.maxGapMs, 1)) ms", "\(format(stream.jitterMs, 2)) ms",
            ]
        }
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for row in all {
            out.append(
                row.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - $1.count) }.joined(
                    separator: "  "))
        }
        if streams.isEmpty { out.append("(no RTP streams)") }
        return out.joined(separator: "\n") + "\n"
    }
}
