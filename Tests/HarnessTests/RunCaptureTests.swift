import Analysis
import ControlProtocol
import Foundation
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// A run captures its own network: traffic a test puts on it shows up in capture.pcap and in
/// the report's streams, each receiver named by its peer.
@Suite(.enabled(if: getuid() == 0, "capturing on lo needs root"), .timeLimit(.minutes(2)))
struct RunCaptureTests {
    @Test func aRunCapturesItsTrafficAndNamesTheReceiver() async throws {
        let yaml = """
            name: e2e-capture
            peers: 2
            timeline:
              - at: 0s
                spawn: all
              - at: 0s
                wait: ready
              - at: 4s
                stop:
            expect:
              - streams[*].lost == 0
              - capture.kernelDrops == 0
            """
        let folder = temporaryDirectory("e2e-capture")
        let options = TestbedRunEndToEndTests.options(folder)
        async let run = TestbedRun.execute(try Scenario.parse(yaml, file: "c.yaml"), source: yaml, options: options)

        // peer-1's address, once it is ready, from the run's own events.
        let target = try #require(await RunEvents(out: folder + "/Captures").readyAddress(of: "peer-1"))
        // A speaker at the top of the run's /16 sends 50 packets, 10 ms apart.
        let network = target.split(separator: ".").prefix(2).joined(separator: ".")
        let sender = try UDPSender(bindingTo: "\(network).250.1")
        for sequence in 0..<50 {
            sender.send(
                rtpBytes(sequence: UInt16(sequence), timestamp: UInt32(sequence * 160), ssrc: 0xC0FFEE), to: target,
                port: 7000)
            usleep(10_000)
        }

        let result = try await run
        // A Bool, not the result: a failure prints the report, not every packet it holds.
        let passed = result.passed
        #expect(passed, "\(result.report.text())")
        let capture = try #require(result.report.capture)
        #expect(capture.packets == 50)
        #expect(capture.kernelDrops == 0)
        let stream = try #require(result.report.streams.first)
        #expect(result.report.streams.count == 1)
        #expect(stream.ssrc == "0x00c0ffee")
        #expect(stream.receiver == "\(target):7000")
        #expect(stream.receiverName == "peer-1")
        #expect(stream.senders == ["\(network).250.1:\(stream.senders.first?.split(separator: ":").last ?? "")"])
        #expect(stream.packets == 50)
        #expect(stream.lost == 0)
        // The report rebuilt from the folder alone finds the same stream.
        #expect(try ReportWriter.rewrite(folder: result.folder).report.streams == result.report.streams)
    }
}
