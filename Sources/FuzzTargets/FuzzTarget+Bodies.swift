import Analysis
import ControlProtocol
import DHT
import FoundationEssentials
import GameWire
import GameWorld
import Mobility
import OverlayCore
import RTP
import Scenario
import VoiceRelay

extension FuzzTarget {
    static func analyse(_ input: UnsafeRawBufferPointer) {
        guard let capture = try? CaptureAnalysis.analyse(input) else { return }
        // The same bytes as the run's drops.pcap too: every hole then the network's.
        let drops = try? NetworkDrops(input)
        var report = RunReport(events: [])
        report.attach(capture, drops: drops, events: [])
        _ = capture.text(file: "fuzz.pcap")
        _ = capture.html(file: "fuzz.pcap")
        _ = try? ReportFiles.json(capture)
        _ = report.text()
    }

    /// A section header and one Ethernet interface, for inputs that do not start a pcapng.
    static let pcapngHead: [UInt8] = [
        0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 28, 0, 0, 0,
        1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0xFF, 0xFF, 0, 0, 20, 0, 0, 0,
    ]

    static func pcapng(_ bytes: [UInt8]) {
        let file = bytes.starts(with: [0x0A, 0x0D, 0x0D, 0x0A]) ? bytes : pcapngHead + bytes
        file.withUnsafeBytes { analyse($0) }
    }

    static func rtp(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { try? RTPHeader(bytes: $0) }
        guard let packet = try? RTPPacket(bytes: bytes) else { return }
        check((try? RTPPacket(bytes: packet.bytes)) == packet, "RTP \(bytes)")
    }

    /// The DHT's frames, and the hello that opens every overlay connection.
    static func chord(_ bytes: [UInt8]) {
        if let hello = try? OverlayHello(frame: bytes) {
            check((try? OverlayHello(frame: hello.frame)) == hello, "hello \(bytes)")
        }
        guard let envelope = try? ChordWire.decode(bytes) else { return }
        check((try? ChordWire.decode(ChordWire.encode(envelope))) == envelope, "Chord \(bytes)")
    }

    static func relay(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        switch selector % 6 {
        case 0:
            guard let message = try? RelayMessage(frame: rest) else { return }
            check((try? RelayMessage(frame: message.frame)) == message, "relay message \(rest)")
        case 1:
            guard let state = try? RelayState(snapshot: rest) else { return }
            check((try? RelayState(snapshot: state.snapshot)) == state, "relay state \(rest)")
        case 2:
            guard let operation = try? RelayOperation(bytes: rest) else { return }
            check((try? RelayOperation(bytes: operation.bytes)) == operation, "relay operation \(rest)")
        default:
            guard let traffic = try? LateTraffic(bytes: rest) else { return }
            check((try? LateTraffic(bytes: traffic.bytes)) == traffic, "late traffic \(rest)")
        }
    }

    static func game(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        switch selector % 6 {
        case 0:
            guard let tick = try? GameTick(bytes: rest) else { return }
            check((try? GameTick(bytes: tick.bytes)) == tick, "game tick \(rest)")
        case 1:
            guard let message = try? GameMessage(frame: rest) else { return }
            check((try? GameMessage(frame: message.frame)) == message, "game message \(rest)")
        case 2:
            guard let state = try? GameState(snapshot: rest) else { return }
            check((try? GameState(snapshot: state.snapshot)) == state, "game state \(rest)")
        default:
            guard let operation = try? GameOperation(bytes: rest) else { return }
            check((try? GameOperation(bytes: operation.bytes)) == operation, "game operation \(rest)")
        }
    }

    static func mobility(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        switch selector % 6 {
        case 0:
            guard let message = try? MigrationMessage(frame: rest) else { return }
            check((try? MigrationMessage(frame: message.frame)) == message, "migration message \(rest)")
        case 1:
            guard let message = try? SessionMessage(frame: rest) else { return }
            check((try? SessionMessage(frame: message.frame)) == message, "session message \(rest)")
        case 2:
            guard let datagram = try? LateDatagram(bytes: rest) else { return }
            check((try? LateDatagram(bytes: datagram.bytes)) == datagram, "late datagram \(rest)")
        case 3:
            guard let redirect = try? DataRedirect(bytes: rest) else { return }
            check((try? DataRedirect(bytes: redirect.bytes)) == redirect, "data redirect \(rest)")
        case 4:
            guard let heartbeat = try? StandbyHeartbeat(bytes: rest) else { return }
            check((try? StandbyHeartbeat(bytes: heartbeat.bytes)) == heartbeat, "standby heartbeat \(rest)")
        default:
            guard let notice = try? TakeoverNotice(bytes: rest) else { return }
            check((try? TakeoverNotice(bytes: notice.bytes)) == notice, "takeover notice \(rest)")
        }
    }

    static func eventLine(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self), let line = try? EventLine(line: text) else { return }
        check((try? EventLine(line: line.line.dropLast())) != nil, "event line \(text)")
    }

    static func report(_ bytes: [UInt8]) {
        let (events, unreadable) = ReportFiles.events(in: Data(bytes))
        let report = RunReport(events: events, malformedEventLines: unreadable.count)
        _ = report.text()
        _ = report.html()
        _ = try? ReportFiles.json(report)
    }

    /// Profiles a fuzzed scenario may name.
    static let profiles: ProfileCatalogue = {
        var catalogue = ProfileCatalogue(folders: ["fuzz"])
        catalogue.add(NamedProfile(name: "lan", profile: .zero), file: "fuzz/lan.yaml")
        catalogue.add(NamedProfile(name: "wan", profile: .zero), file: "fuzz/wan.yaml")
        return catalogue
    }()

    static func scenario(_ bytes: [UInt8]) {
        guard let text = try? YAMLSource.text(bytes, file: "fuzz.yaml"),
            let scenario = try? Scenario.parse(text, file: "fuzz.yaml", profiles: profiles)
        else { return }
        _ = try? scenario.plan()
        _ = try? Scenario.expectations(in: text, file: "fuzz.yaml")
    }
}
