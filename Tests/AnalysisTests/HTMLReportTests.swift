import ControlProtocol
import Foundation
import SeamlessTestKit
import Testing
import VoiceWire

@testable import Analysis

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// report.html is one well-formed, self-contained file with its charts.
@Suite struct HTMLReportTests {
    final class Checker: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        var externalReferences: [String] = []
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            elements[name, default: 0] += 1
            for key in ["src", "href", "xlink:href"] {
                if let value = attributes[key] { externalReferences.append(value) }
            }
            if name == "link" || name == "script" || name == "iframe" || name == "img" {
                externalReferences.append(name)
            }
        }
    }

    static func check(_ html: String) -> Checker? {
        let parser = XMLParser(data: Data(html.utf8))
        let checker = Checker()
        parser.delegate = checker
        return parser.parse() ? checker : nil
    }

    @Test func aRunReportIsWellFormedSelfContainedAndHasItsCharts() throws {
        var report = RunReport(events: LifecycleAnalysisTests.run)
        var builder = CaptureAnalysisTests.stream(Array(0..<50) + Array(55..<100))
        builder.udp(
            at: CaptureAnalysisTests.t0, from: ("127.100.0.4", 53), to: ("127.100.0.5", 53), payload: [1, 2, 3])
        report.attach(try CaptureAnalysisTests.analyse(builder), events: LifecycleAnalysisTests.run)
        report.expectations = [
            ExpectationResult(expr: "streams[*].lost == 0", value: .array([.number(5)]), passed: false)
        ]
        let html = report.html(folder: "Captures/<smoke> & co")
        let checker = try #require(Self.check(html), "report.html is not well-formed")
        #expect(checker.externalReferences.isEmpty)
        #expect(checker.elements["svg"] == 3)  // bandwidth, one stream, gap distribution
        #expect(checker.elements["polyline", default: 0] >= 1)
        #expect(checker.elements["circle", default: 0] == 95)
        #expect(html.contains("Captures/&lt;smoke&gt; &amp; co"))
        #expect(html.contains("<td class=\"fail\">FAIL</td>"))
    }

    @Test func failoversGetATableAndTheStandbyCountAChart() throws {
        let t = Timestamp(microseconds: 1_764_000_000_000_000)
        func at(_ seconds: Double, _ peer: String, _ event: Event) -> EventLine {
            EventLine(t: Timestamp(microseconds: t.microseconds + Int64(seconds * 1e6)), peer: peer, event: event)
        }
        let events = [
            at(1, "peer-4", .standbys(service: "voice", epoch: 1, wanted: 1, peers: ["peer-2"])),
            at(5.1, "peer-4", .failoverPhase(service: "voice", epoch: 2, phase: "claim", quietMs: 104.5)),
            at(
                5.16, "peer-2",
                .failover(service: "voice", from: "peer-4", to: "peer-2", epoch: 2, silenceMs: 160, claimMs: 6)),
            at(5.17, "peer-2", .standbys(service: "voice", epoch: 2, wanted: 1, peers: ["peer-3"])),
        ]
        var report = RunReport(events: events)
        report.failovers = FailoverAnalysis.failovers(from: events)
        report.replicas = ReplicaCount.timeline(from: events)
        let html = report.html()
        let checker = try #require(Self.check(html), "report.html is not well-formed")
        #expect(checker.elements["svg"] == 1)
        #expect(
            html.contains("Failovers and hot standbys") && html.contains("104.5 ms after its last answered heartbeat"))
        // The count: 1 from the start, none from the takeover, 1 again; as a step line.
        let points = try #require(html.firstMatch(of: /polyline[^>]* points="([^"]*)"/)?.1).split(separator: " ")
        #expect(points.count == 6, "\(points)")
        #expect(Set(points.map { $0.split(separator: ",")[1] }).count == 2)
    }

    @Test func everyRecordingGetsAPlayerForItsWAVInTheRunFolderAndNothingElse() throws {
        let t = Timestamp(microseconds: 1_764_000_000_000_000)
        let events =
            LifecycleAnalysisTests.run + [
                EventLine(
                    t: t, peer: "peer-2",
                    event: VoiceEvent.speaking(
                        service: "voice", ssrc: "0x0ae23dfb", audio: "Testbed/audio/reference.wav", from: 4,
                        frames: 200,
                        slot: 0
                    ).event),
                EventLine(
                    t: t, peer: "peer-3",
                    event: VoiceEvent.heard(
                        service: "voice", ssrc: "0x0ae23dfb", file: "/abs/run/audio/peer-3-from-0x0ae23dfb.wav",
                        frames: 200,
                        concealed: 2, silent: 0, packets: 198, malformed: 0
                    ).event),
            ]
        let report = RunReport(events: events)
        let recording = try #require(report.voice?.recordings.first)
        #expect(recording.file == "audio/peer-3-from-0x0ae23dfb.wav")
        #expect(recording.sourceAudio == "Testbed/audio/reference.wav")
        #expect(recording.spurts == [VoiceFigures.Spurt(atFrame: 0, frames: 200, fromSeconds: 4)])
        let checker = try #require(Self.check(report.html()), "report.html is not well-formed")
        #expect(checker.elements["audio"] == 1)
        // The one file referred to is the recording beside the report.
        #expect(checker.externalReferences == ["audio/peer-3-from-0x0ae23dfb.wav"])
    }

    @Test func aCaptureReportIsWellFormedToo() throws {
        let report = try CaptureAnalysisTests.analyse(CaptureAnalysisTests.stream(Array(0..<20)))
        let checker = try #require(Self.check(report.html(file: "x.pcap")))
        #expect(checker.externalReferences.isEmpty)
        #expect(checker.elements["svg"] == 3)
    }
}
