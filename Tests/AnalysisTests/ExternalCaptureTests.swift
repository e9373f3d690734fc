import Foundation
import SeamlessTestKit
import Testing

@testable import Analysis

/// A capture the project did not produce, judged by a tool that is not ours: GStreamer sends
/// Speex over RTP (rtpspeexpay) to a socket on lo, tcpdump captures it, and our figures must
/// agree with tshark's per-packet fields. Needs root (capture) and the tools `make test`
/// installs.
@Suite(.enabled(if: getuid() == 0, "capturing on lo needs root"))
struct ExternalCaptureTests {
    static func which(_ tool: String) -> String? {
        ["/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/"].map { $0 + tool }.first { access($0, X_OK) == 0 }
    }

    @Test func gstreamerSpeexStreamMatchesTshark() throws {
        let tcpdump = try #require(Self.which("tcpdump"), "tcpdump is missing: run make test, which installs it")
        let gst = try #require(Self.which("gst-launch-1.0"), "gst-launch-1.0 is missing")
        let tshark = try #require(Self.which("tshark"), "tshark is missing")
        let folder = temporaryDirectory("external-capture")
        let pcap = folder + "/gst.pcap"
        let port = 20_000 + Int(getpid() % 10_000)

        let capture = try ChildProcess(
            tcpdump, ["-i", "lo", "-U", "--immediate-mode", "-w", pcap, "udp and dst port \(port)"],
            stderrPath: folder + "/tcpdump.err")
        #expect(
            eventually(within: .seconds(10)) {
                ((try? String(contentsOfFile: folder + "/tcpdump.err", encoding: .utf8)) ?? "").contains("listening on")
            })
        let sender = try ChildProcess(
            gst,
            [
                "-q", "audiotestsrc", "num-buffers=50", "samplesperbuffer=320", "!",
                "audio/x-raw,rate=16000,channels=1",
                "!", "speexenc", "!", "rtpspeexpay", "!", "udpsink", "host=127.77.0.2", "port=\(port)",
            ], stderrPath: folder + "/gst.err")
        #expect(sender.waitForExit(within: .seconds(30)))
        #expect(sender.exitStatus == 0)
        usleep(300_000)
        capture.signal(SIGINT)
        #expect(capture.waitForExit(within: .seconds(10)))

        let ours = try CaptureAnalysis.analyse(file: pcap)
        let stream = try #require(ours.streams.first, "no RTP stream found in \(pcap)")
        #expect(ours.streams.count == 1)

        // tshark's per-packet fields, decoded as RTP on that port.
        let fields = try ChildProcess(
            tshark,
            [
                "-r", pcap, "-d", "udp.port==\(port),rtp", "-T", "fields", "-E", "separator=,", "-e", "rtp.ssrc",
                "-e", "rtp.seq", "-e", "rtp.timestamp", "-e", "frame.time_epoch", "-e", "ip.dst", "-e", "udp.dstport",
            ], stderrPath: folder + "/tshark.err")
        var rows: [[String]] = []
        while let line = fields.nextLine(within: .seconds(20)) {
            rows.append(line.split(separator: ",").map(String.init))
        }
        #expect(fields.waitForExit(within: .seconds(10)))
        try #require(rows.count > 10, "tshark decoded \(rows.count) packets")

        let ssrcs = Set(rows.map { $0[0] })
        #expect(ssrcs.count == 1)
        #expect(UInt32(ssrcs.first!.dropFirst(2), radix: 16) == UInt32(stream.ssrc.dropFirst(2), radix: 16))
        #expect(stream.receiver == "\(rows[0][4]):\(rows[0][5])")
        let sequences = rows.map { Int($0[1])! }
        #expect(stream.packets == Set(sequences).count)
        #expect(stream.duplicates == sequences.count - Set(sequences).count)
        // Loss from first to last sequence number (no wrap in 50 packets unless it starts
        // near 65535, which the extended count below also handles).
        var extended: [Int] = []
        for sequence in sequences {
            guard let last = extended.last else { extended.append(sequence); continue }
            var candidate = (last & ~0xFFFF) | sequence
            if candidate - last > 0x8000 {
                candidate -= 0x10000
            } else if last - candidate > 0x8000 {
                candidate += 0x10000
            }
            extended.append(candidate)
        }
        #expect(stream.lost == extended.max()! - extended.min()! + 1 - Set(extended).count)

        // Largest gap and RFC 3550 jitter, recomputed from tshark's times and timestamps.
        let times = rows.map { Double($0[3])! }
        let timestamps = rows.map { UInt32($0[2])! }
        let maxGap = zip(times.dropFirst(), times).map { ($0 - $1) * 1000 }.max()!
        #expect(abs(stream.maxGapMs - maxGap) < 0.002)
        var jitter = 0.0
        for index in 1..<rows.count {
            let arrival = (times[index] - times[index - 1]) * 16000
            let sent = Double(Int32(bitPattern: timestamps[index] &- timestamps[index - 1]))
            jitter += (abs(arrival - sent) - jitter) / 16
        }
        #expect(abs(stream.jitterMs - jitter / 16) < 0.01)
        #expect(stream.payloadType >= 96)
    }
}
