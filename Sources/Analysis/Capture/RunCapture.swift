import ControlProtocol
import OverlayCore

extension RunReport {
    /// Adds a run's capture: its figures, libpcap's drop counters from the run's
    /// `capture-stopped` event, and the streams, each receiver named by the peer that held
    /// its address. With what the emulated network dropped (`drops`, netns mode), every loss
    /// is told apart: the network's or the service's.
    public mutating func attach(_ capture: CaptureReport, drops: NetworkDrops? = nil, events: [EventLine]) {
        var capture = capture
        if let drops { capture.attribute(drops) }
        var figures = capture.capture
        figures.networkDrops = drops?.packets
        var peerByAddress: [String: String] = [:]
        var clients: Set<String> = []
        for line in events {
            switch line.event {
            case .spawned(_, let address): peerByAddress[address] = line.peer
            case .clientJoined(_, _, _, _, let local): clients.insert(local)
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
        // A stream only clients sent (a speaker's to its relay) shows when each packet left.
        let origins = zip(capture.streams, capture.details).filter { stream, _ in
            !stream.senders.isEmpty && stream.senders.allSatisfy(clients.contains)
        }.map(\.1)
        HandoffAnalysis.measure(
            &handoffs, streams: judged, hostTraffic: capture.hostTraffic, addresses: addresses,
            networkKnown: drops != nil, origins: origins)
        handoffLoss = HandoffLoss(handoffs: handoffs, streams: judged, networkKnown: drops != nil)
        FailoverAnalysis.measure(
            &failovers,
            streams: zip(capture.streams, capture.details).map { ($0.ssrc, $0.receiver, $1) }
                + zip(capture.games, capture.gameDetails).map { ("ticks", $0.receiver, $1) })
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

extension CaptureReport {
    /// Marks each hole of each stream the network's or the service's (`NetworkDrops`).
    mutating func attribute(_ drops: NetworkDrops) {
        // The hosts that send each SSRC on: the speaker itself and every relay that forwarded it.
        var forwarders: [String: Set<String>] = [:]
        for stream in streams {
            forwarders[stream.ssrc, default: []].formUnion(stream.senders.map { HostPort($0)?.host ?? $0 })
        }
        for index in streams.indices {
            let receiver = HostPort(streams[index].receiver)?.host ?? streams[index].receiver
            guard let ssrc = UInt32(streams[index].ssrc.dropFirst(2), radix: 16) else { continue }
            let origin = details[index].origin
            let network = details[index].holes.filter { hole in
                drops.dropped(
                    ssrc: ssrc, sequence: UInt16(truncatingIfNeeded: origin &+ Int64(hole)), receiver: receiver,
                    forwarders: forwarders[streams[index].ssrc] ?? [])
            }
            details[index].lostByNetwork = Set(network)
            streams[index].lostByNetwork = network.count
        }
        for index in games.indices {
            let receiver = HostPort(games[index].receiver)?.host ?? games[index].receiver
            let origin = gameDetails[index].origin
            let network = gameDetails[index].holes.filter { hole in
                drops.dropped(tick: UInt32(truncatingIfNeeded: origin &+ Int64(hole)), receiver: receiver)
            }
            gameDetails[index].lostByNetwork = Set(network)
            games[index].lostByNetwork = network.count
        }
    }
}
