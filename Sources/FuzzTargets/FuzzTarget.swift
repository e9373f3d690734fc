/// FuzzTargets: what every fuzz target does with one input, shared by the libFuzzer
/// executables of `Fuzz/` (built by `make fuzz`) and by the regression test that replays every
/// committed input in `make test`. Each body hands the bytes to one decoder or parser of data
/// the testbed reads from files, peers or the network, and where the decoder has an encoder
/// checks that what it accepted encodes and decodes back to the same value: a decoder that
/// accepts bytes it cannot represent is a bug too. A body never throws: a rejection is the
/// decoder's answer; a trap, a failed check, a hang or a blow-up is a finding.
import Analysis
import ControlProtocol
import DHT
import GameWire
import GameWorld
import Mobility
import RTP
import Scenario
import VoiceRelay

/// One fuzz target: its name (the folder of its corpus and regressions) and its body.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A classic pcap through the whole capture analysis and its three renderings.
    case pcap
    /// pcapng blocks after a valid section header and interface (prepended when missing).
    case pcapng
    /// An RTP packet: decoded, encoded again, decoded to the same packet.
    case rtp
    /// A Chord frame of the DHT's wire format.
    case chord
    /// The relay's control messages, state snapshots, operations and forwarded traffic (the
    /// first byte picks which).
    case relay
    /// Migration and session messages, late datagrams, data redirects, standby heartbeats and
    /// takeover notices (the first byte picks which).
    case mobility
    /// The game's ticks (what the judge reads), requests and pushes, world snapshots and
    /// operations (the first byte picks which).
    case game
    /// A line of events.jsonl or of a peer's stdout.
    case eventLine = "event-line"
    /// A command line a peer reads on stdin.
    case peerCommand = "peer-command"
    /// events.jsonl as a whole through the run report and its renderings.
    case report
    /// A scenario file: bytes to text, YAML, validation, the expanded plan.
    case scenario
    /// A link profile file.
    case profile

    /// Runs the target on one input.
    public func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        switch self {
        case .pcap: Self.analyse(input)
        case .pcapng: Self.pcapng(bytes)
        case .rtp: Self.rtp(bytes)
        case .chord: Self.chord(bytes)
        case .relay: Self.relay(bytes)
        case .mobility: Self.mobility(bytes)
        case .game: Self.game(bytes)
        case .eventLine: Self.eventLine(bytes)
        case .peerCommand: _ = try? PeerCommand(line: String(decoding: bytes, as: UTF8.self))
        case .report: Self.report(bytes)
        case .scenario: Self.scenario(bytes)
        case .profile:
            guard let text = try? YAMLSource.text(bytes, file: "fuzz.yaml") else { return }
            _ = try? NamedProfile.parse(text, file: "fuzz.yaml")
        }
    }

    /// Fails the run (a finding) when a decoded value does not survive its own encoding.
    static func check(_ condition: Bool, _ what: @autoclosure () -> String) {
        if !condition { fatalError("round trip failed: \(what())") }
    }
}
