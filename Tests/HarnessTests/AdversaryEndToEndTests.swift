import Analysis
import ControlProtocol
import Foundation
import Mobility
import OverlayCore
import RTP
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// A hostile process on the run's loopback network while a relay serves two clients and then
/// migrates: it opens 2,000 sessions on the relay (more than a migration frame can carry
/// without the session quota), guesses resume tokens, and sends a listener RTP of its own. No
/// peer fails, the migration still carries the relay whole, and the listener plays only the
/// speaker.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AdversaryEndToEndTests {
    static let scenario = """
        \(HostFaultEndToEndTests.head("adversary", seed: 5, peers: 4))
          - at: 1s
            deploy: {peer: peer-1, service: voice, kind: voice-relay}
          - at: 2s
            clients: {service: voice, peers: [peer-2, peer-3]}
          - at: 3s
            clients: {service: voice, peers: [peer-2], speak: Testbed/audio/reference.wav, from: 0s, for: 10s}
          - at: 10s
            migrate: {service: voice, to: peer-4}
          - at: 15s
            stop:
        """

    /// The run's events so far, once its folder under `root` exists.
    static func events(under root: String) -> [EventLine] {
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let run = runs.first(where: { $0.hasPrefix("adversary-") }),
            let (events, _) = try? ReportFiles.readEvents(at: root + "/" + run + "/events.jsonl")
        else { return [] }
        return events
    }

    /// The attack, from 127.0.0.1 (no peer's address): it waits until peer-3 listens, then
    /// floods the relay with sessions, guesses a token, and speaks to peer-3 itself (on a thread
    /// of its own: its sockets block). Returns when it was done (Unix seconds).
    static func attack(under root: String) async throws -> (sessions: Int, guesses: [SessionMessage?], done: Double) {
        var control: (host: String, port: UInt16)?
        var listener: (host: String, port: UInt16)?
        for _ in 0..<200 where listener == nil {
            try await Task.sleep(for: .milliseconds(50))
            for line in events(under: root) {
                if case .deployed(_, _, let address, _) = line.event, let hostPort = HostPort(address) {
                    control = (hostPort.host, hostPort.port)
                }
                if case .clientJoined(_, _, _, _, let local) = line.event, line.peer == "peer-3",
                    let hostPort = HostPort(local)
                {
                    listener = (hostPort.host, hostPort.port)
                }
            }
        }
        guard let control, let listener else { return (0, [], 0) }
        return await onThread { flood(control, listener) }
    }

    static func flood(_ control: (host: String, port: UInt16), _ listener: (host: String, port: UInt16)) -> (
        sessions: Int, guesses: [SessionMessage?], done: Double
    ) {
        var sessions = 0
        var last: (SessionID, SessionToken)?
        for index in 0..<2000 {
            guard let connection = try? FramedTCP(to: control.host, port: control.port) else { continue }
            connection.send(SessionMessage.open(client: "x\(index)").frame)
            if let frame = connection.receive(),
                case .ready(let id, let token, _, _)? = try? SessionMessage(frame: frame)
            {
                sessions += 1
                last = (id, token)
            }
        }
        // Four wrong guesses at the last session's token on one connection: three are answered.
        var guesses: [SessionMessage?] = []
        if let (id, token) = last,
            let connection = try? FramedTCP(to: control.host, port: control.port, timeout: .seconds(1))
        {
            for step in 1...4 {
                connection.send(
                    SessionMessage.resume(
                        session: id, token: SessionToken(high: token.high, low: token.low &+ UInt64(step))
                    ).frame)
                guesses.append(connection.receive().flatMap { try? SessionMessage(frame: $0) })
            }
        }
        guard let stranger = try? UDPSender(bindingTo: "127.0.0.1") else { return (sessions, guesses, 0) }
        for index in 0..<50 {
            let packet = RTPPacket(
                marker: index == 0, payloadType: 97, sequenceNumber: UInt16(index), timestamp: UInt32(index * 320),
                ssrc: 0x5757_5757, payload: [UInt8](repeating: 0x55, count: 40))
            stranger.send(packet.bytes, to: listener.host, port: listener.port)
            Thread.sleep(forTimeInterval: 0.02)
        }
        return (sessions, guesses, Date().timeIntervalSince1970)
    }

    @Test func aHostileNeighbourCrashesNothingAndTheRelayStillMovesWhole() async throws {
        let folder = temporaryDirectory("e2e-adversary")
        let options = TestbedRunEndToEndTests.options(folder)
        async let attacked = Self.attack(under: folder + "/Captures")
        let result = try await TestbedRun.execute(
            try Scenario.parse(Self.scenario, file: "adversary.yaml"), source: Self.scenario, options: options)
        let (sessions, guesses, done) = try await attacked
        let report = result.report
        #expect(sessions == 2000, "the relay opened \(sessions) sessions")
        #expect(guesses.prefix(3).allSatisfy { $0 == .unknownSession } && guesses.count == 4 && guesses[3] == nil)
        #expect(report.peers.failed == 0 && report.peers.crashed == 0, "\(report.text())")
        let handoff = try #require(report.handoffs.first, "no migration: \(report.text())")
        #expect(handoff.outcome == "release", "\(handoff.phases)")
        // The whole attack came before the migration: it moved what the attack left.
        #expect(done > 0 && done < handoff.start, "attack done at \(done), migration at \(handoff.start)")
        let voice = try #require(report.voice)
        // peer-3 recorded the speaker only, and none of it concealed.
        let heard = voice.recordings.filter { $0.receiverName == "peer-3" }
        #expect(heard.count == 1 && heard.allSatisfy { $0.ssrc != "0x57575757" && $0.concealed == 0 }, "\(heard)")
        if getuid() == 0 {
            #expect(handoff.lost == 0 && handoff.duplicates == 0, "\(handoff)")
        }
        // The report counts what was refused, and where: peer-3 dropped the stranger's 50
        // datagrams; the relay's first host left the fourth guess unanswered.
        let security = try #require(report.security, "\(report.text())")
        #expect(security.byPeer["peer-3"]?["stranger-datagrams"] == 50, "\(security)")
        #expect(security.byPeer["peer-1"]?["dropped-resumes"] == 1, "\(security)")
        #expect(report.text().contains("security  rejected:"))
        #expect(report.html().contains("<h2>Refused input</h2>"))
    }
}
