import ControlProtocol
import OverlayCore

extension RunReport {
    /// Adds a run's capture: its figures, libpcap's drop counters from the run's
    /// `capture-stopped` event, and the streams, each receiver named by the peer that held
    /// its address.
    public mutating func attach(_ capture: CaptureReport, events: [EventLine]) {
        var figures = capture.capture
        var peerByAddress: [String: String] = [:]
        for line in events {
            switch line.event {
            case .spawned(_, let address): peerByAddress[address] = line.peer
            case .captureStopped(_, let kernelDrops, let interfaceDrops):
                figures.kernelDrops = kernelDrops
                figures.interfaceDrops = interfaceDrops
            default: break
            }
        }
        self.capture = figures
        var bandwidth = capture.bandwidth
        for index in bandwidth.hosts.indices {
            bandwidth.hosts[index].name = peerByAddress[bandwidth.hosts[index].address]
        }
        self.bandwidth = bandwidth
        dht?.measure(bandwidth, events: events, captureEnd: run.end)
        streamDetails = capture.details
        var addresses: [String: String] = [:]
        for (address, peer) in peerByAddress { addresses[peer] = address }
        // Game ticks are streams too: a handoff window judges them as it judges RTP.
        let judged = capture.details + capture.gameDetails
        HandoffAnalysis.measure(&handoffs, streams: judged, hostTraffic: capture.hostTraffic, addresses: addresses)
        handoffLoss = HandoffLoss(handoffs: handoffs, streams: judged)
        game?.attach(capture.games, peerByAddress: peerByAddress)
        let sourceAudio = voice?.sourceAudio ?? [:]
        streams = capture.streams.map { stream in
            var named = stream
            let address = HostPort(stream.receiver)?.host ?? stream.receiver
            named.receiverName = peerByAddress[address]
            named.sourceAudio = sourceAudio[stream.ssrc]
            return named
        }
    }

    /// Notes a capture that could not be read at all.
    public mutating func attachCaptureError(_ message: String) {
        capture = CaptureFigures(
            linkType: "", packets: 0, bytes: 0, udpPackets: 0, tcpPackets: 0, rtpPackets: 0, nonRtpUdpPackets: 0,
            otherPackets: 0, malformedPackets: 0, partial: true, error: message)
    }
}
