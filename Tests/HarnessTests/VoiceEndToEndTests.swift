import Analysis
import Foundation
import Scenario
import SeamlessTestKit
import Testing
import Voice

@testable import Harness

/// The shipped `voice-basic.yaml` end to end: a relay found through the registry, three real
/// peers taking turns to speak the reference recording through it. Every listener's WAV must
/// be the source, and GStreamer's own Speex decoder, fed the RTP from our capture (extracted
/// by tshark), must hear what our receiver wrote.
@Suite(.serialized, .timeLimit(.minutes(3))) struct VoiceEndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs a shipped scenario (`Testbed/scenarios/<name>.yaml`) into a new temporary folder.
    static func run(shipped name: String) async throws -> (result: RunResult, folder: String) {
        let folder = temporaryDirectory("e2e-\(name)")
        let path = root + "/Testbed/scenarios/\(name).yaml"
        let source = try String(contentsOfFile: path, encoding: .utf8)
        let scenario = try Scenario.parse(source, file: path)
        return (
            try await TestbedRun.execute(scenario, source: source, options: TestbedRunEndToEndTests.options(folder)),
            folder
        )
    }

    /// How well a turn in a recording matches the part of the reference its speaker said: the
    /// correlation of the two and how many samples the recording lags (at most two frames).
    static func correlation(
        of spurt: VoiceFigures.Spurt, heard: WAVFile, reference: WAVFile
    ) -> (value: Double, lag: Int) {
        let from = Int(spurt.fromSeconds * 16000)
        let said = Array(reference.samples[from..<(from + spurt.frames * 320)])
        let start = spurt.atFrame * 320
        let segment = Array(heard.samples[start..<min(heard.samples.count, start + spurt.frames * 320 + 640)])
        return AudioSimilarity.correlation(said, segment, maxLag: 640)
    }

    @Test func threeClientsTakeTurnsAndEveryListenerHearsTheSource() async throws {
        let (result, folder) = try await Self.run(shipped: "voice-basic")
        let report = result.report
        // A Bool, not the result: a failure prints the report, not every packet it holds.
        let passed = result.passed
        #expect(passed, "\(report.text())")
        let voice = try #require(report.voice, "no voice section")
        #expect(voice.failures.isEmpty, "\(voice.failures)")
        #expect(voice.speakers.count == 6)
        #expect(voice.speakers.allSatisfy { $0.sent == 200 && $0.frames == 200 })
        // Each of three listeners hears the two others.
        #expect(voice.recordings.count == 6)
        #expect(Set(voice.recordings.map(\.receiverName)) == ["peer-2", "peer-3", "peer-4"])
        #expect(voice.relays.count == 1)
        #expect(voice.relays.first?.received == 1200)
        #expect(voice.relays.first?.forwarded == 2400)
        // One RTP stream per speaker, continuing across its turns.
        #expect(Set(voice.speakers.map(\.ssrc)).count == 3)

        let reference = try WAVFile.read(path: Self.root + "/Testbed/audio/reference.wav")
        for recording in voice.recordings {
            let heard = try WAVFile.read(path: result.folder.path + "/" + recording.file)
            #expect(recording.sourceAudio == "Testbed/audio/reference.wav")
            // Two turns 15 s apart, give or take how long each command took to arrive:
            // 200 frames, about 550 of silence, 200 frames.
            let second = recording.spurts.last?.atFrame ?? 0
            #expect(recording.spurts.count == 2 && recording.spurts[0].atFrame == 0, "\(recording.file)")
            #expect((740...760).contains(second), "\(recording.file): second turn at frame \(second)")
            #expect(recording.frames == second + 200 && recording.concealed == 0, "\(recording.file)")
            #expect(recording.silent == second - 200, "\(recording.file)")
            #expect(heard.samples.count == (second + 200) * 320, "\(recording.file)")
            for spurt in recording.spurts {
                // Every turn lies where it was said, is the source, and less than a frame behind it.
                let (value, lag) = Self.correlation(of: spurt, heard: heard, reference: reference)
                #expect(value > 0.9, "\(recording.file) at frame \(spurt.atFrame): correlation \(value) at lag \(lag)")
                #expect(lag < 320, "\(recording.file): \(lag) samples behind the source")
            }
            // The silence between the turns is silent.
            #expect(heard.samples[(200 * 320)..<(second * 320)].allSatisfy { $0 == 0 }, "\(recording.file)")
        }

        if getuid() == 0 {
            #expect(report.streams.count == 9)  // the relay's three, and two at each listener
            #expect(report.streams.allSatisfy { $0.lost == 0 && $0.duplicates == 0 && $0.sourceAudio != nil })
            // The 11 s between a speaker's turns are its silence, not a gap in its stream.
            #expect(report.streams.allSatisfy { $0.maxGapMs < 1000 }, "\(report.streams.map(\.maxGapMs))")
            let recording = try #require(voice.recordings.first { $0.receiverName == "peer-3" })
            let stream = try #require(
                report.streams.first { $0.ssrc == recording.ssrc && $0.receiverName == "peer-3" })
            try Self.gstreamerHearsWhatWeWrote(
                pcap: result.folder.capture, stream: stream, ours: result.folder.path + "/" + recording.file,
                spurts: recording.spurts, scratch: folder)
        }
    }

    /// Extracts one stream's RTP with tshark, frames it as RFC 4571 (16-bit length, packet),
    /// decodes it with GStreamer's rtpspeexdepay and speexdec, and compares with our WAV's talk
    /// spurts (GStreamer, reading a file without a clock, leaves out the silence between them).
    static func gstreamerHearsWhatWeWrote(
        pcap: String, stream: StreamFigures, ours: String, spurts: [VoiceFigures.Spurt], scratch: String
    ) throws {
        let tshark = try #require(ExternalTool.which("tshark"), "tshark is missing: make test installs it")
        let gst = try #require(ExternalTool.which("gst-launch-1.0"), "gst-launch-1.0 is missing: make test installs it")
        let colon = try #require(stream.receiver.lastIndex(of: ":"))
        let host = stream.receiver[..<colon]
        let port = stream.receiver[stream.receiver.index(after: colon)...]
        let fields = try ChildProcess(
            tshark,
            ["-r", pcap, "-Y", "ip.dst==\(host) && udp.dstport==\(port)", "-T", "fields", "-e", "udp.payload"],
            stderrPath: scratch + "/tshark.err")
        var framed: [UInt8] = []
        var packets = 0
        while let line = fields.nextLine(within: .seconds(20)) {
            let bytes = stride(from: 0, to: line.count - 1, by: 2).compactMap { offset -> UInt8? in
                let start = line.index(line.startIndex, offsetBy: offset)
                return UInt8(line[start..<line.index(start, offsetBy: 2)], radix: 16)
            }
            guard bytes.count >= 12 else { continue }
            let ssrc = bytes[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard ssrc == UInt32(stream.ssrc.dropFirst(2), radix: 16) else { continue }
            framed += [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
            packets += 1
        }
        #expect(fields.waitForExit(within: .seconds(10)))
        #expect(
            packets == stream.packets, "tshark found \(packets) packets of \(stream.ssrc), we counted \(stream.packets)"
        )
        let input = scratch + "/stream.rtp"
        let output = scratch + "/gstreamer.wav"
        try Data(framed).write(to: URL(fileURLWithPath: input))
        let decoder = try ChildProcess(
            gst,
            [
                "-q", "filesrc", "location=\(input)", "!",
                "application/x-rtp-stream,media=audio,clock-rate=16000,encoding-name=SPEEX,payload=97", "!",
                "rtpstreamdepay", "!", "rtpspeexdepay", "!", "speexdec", "!", "audioconvert", "!",
                "audio/x-raw,format=S16LE,channels=1,rate=16000", "!", "wavenc", "!", "filesink", "location=\(output)",
            ], stderrPath: scratch + "/gst.err")
        #expect(decoder.waitForExit(within: .seconds(30)))
        #expect(
            decoder.exitStatus == 0, "\((try? String(contentsOfFile: scratch + "/gst.err", encoding: .utf8)) ?? "")")
        let theirs = try WAVFile.read(path: output).samples
        let recording = try WAVFile.read(path: ours).samples
        let mine = spurts.flatMap { recording[($0.atFrame * 320)..<(($0.atFrame + $0.frames) * 320)] }
        #expect(
            abs(theirs.count - mine.count) <= 320 * 2,
            "GStreamer decoded \(theirs.count) samples, we wrote \(mine.count)")
        let (value, lag) = AudioSimilarity.correlation(mine, theirs, maxLag: 640)
        #expect(value > 0.99, "GStreamer's decoding against ours: correlation \(value) at lag \(lag)")
    }
}

/// Tools from the system, looked up where Debian installs them.
enum ExternalTool {
    static func which(_ tool: String) -> String? {
        ["/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/"].map { $0 + tool }.first { access($0, X_OK) == 0 }
    }
}
