import Analysis
import Foundation
import SeamlessTestKit
import Testing
import Voice

@testable import Harness

/// The shipped `voice-handoff.yaml` end to end, `make testbed`'s default: the relay moves
/// every 5 s across four hosts while three real peers take turns to speak through it. Every
/// handoff must go through every phase and lose, duplicate and reorder nothing at any
/// receiver, the state must move whole, every turn every listener heard must still be the
/// source, where it was said, and GStreamer's decoder must hear it too. The scenario's timing
/// goals (largest gap ≤ 30 ms, takeover ≤ 20 ms, no frame concealed) are judged in its report
/// (`make testbed`, release binaries), not here: debug-built peers on a busy 2-core machine
/// send and forward late now and then, handoff or not.
@Suite(.serialized, .timeLimit(.minutes(3))) struct HandoffEndToEndTests {
    @Test func theRelayMovesEveryFiveSecondsAndNobodyHearsIt() async throws {
        let (result, folder) = try await VoiceEndToEndTests.run(shipped: "voice-handoff")
        let report = result.report
        #expect(report.peers.failed == 0, "\(report.text())")
        if getuid() != 0 {
            // The capture needs root; without it the run has none, and these checks cannot be made.
            print("HandoffEndToEndTests: not root, so no capture: loss, overhead and GStreamer checks skipped")
        }

        // Eight migrations, each through every phase on both hosts, across four hosts.
        #expect(report.handoffs.count == 8)
        #expect(report.handoffs.allSatisfy { $0.outcome == "release" }, "\(report.handoffs.map(\.phases))")
        #expect(Set(report.handoffs.map(\.to)) == ["peer-1", "peer-4", "peer-5", "peer-6"])
        for handoff in report.handoffs {
            for phase in ["prepare", "replicate", "sync", "commit", "takeover", "redirect", "forward", "release"] {
                #expect(handoff.phases.contains(phase), "\(handoff.migration): no \(phase) in \(handoff.phases)")
            }
            if getuid() == 0 {
                #expect(handoff.lost == 0 && handoff.duplicates == 0 && handoff.reordered == 0, "\(handoff)")
                #expect((handoff.overheadBytes ?? .max) <= 8000, "\(handoff)")
            }
            let snapshot = try #require(handoff.snapshotBytes)
            let compressed = try #require(handoff.snapshotCompressedBytes)
            #expect(compressed > 0 && compressed < snapshot)
        }
        // The state moved whole: the last host counted every packet of every turn.
        let voice = try #require(report.voice, "no voice section")
        #expect(voice.failures.isEmpty, "\(voice.failures)")
        #expect(voice.relays.map(\.received) == [1600])
        #expect(voice.speakers.count == 8 && voice.speakers.allSatisfy { $0.sent == 200 })

        // A turn whose speaker sent frames later than the listeners' playout delay allows (less
        // a frame for the path through the relay) was concealed in part at every listener, by
        // the sender (a debug peer on a busy machine), handoff or not: those are named, and the
        // turns whose speaker kept time are judged.
        let reference = try WAVFile.read(path: VoiceEndToEndTests.root + "/Testbed/audio/reference.wav")
        let margin = SpeakerTrack.playoutDelay.inMilliseconds - 20
        func turns(of recording: VoiceFigures.Recording) -> [(spurt: VoiceFigures.Spurt, keptTime: Bool)] {
            let spoken = voice.speakers.filter { $0.ssrc == recording.ssrc }.sorted { $0.slot < $1.slot }
            return recording.spurts.enumerated().map { index, spurt in
                (spurt, index < spoken.count && (spoken[index].maxLateMs ?? .infinity) < margin)
            }
        }
        #expect(voice.recordings.count == 6)
        var judged = 0
        for recording in voice.recordings {
            let heard = try WAVFile.read(path: result.folder.path + "/" + recording.file)
            for (spurt, keptTime) in turns(of: recording) {
                let (value, lag) = VoiceEndToEndTests.correlation(of: spurt, heard: heard, reference: reference)
                guard keptTime else {
                    print("HandoffEndToEndTests: \(recording.file) at frame \(spurt.atFrame): speaker late, not judged")
                    continue
                }
                judged += 1
                #expect(value > 0.9, "\(recording.file) at frame \(spurt.atFrame): correlation \(value) at lag \(lag)")
            }
        }
        #expect(judged > 0, "no turn's speaker kept time")
        if getuid() == 0 {
            // Loss inside the handoff windows against outside: none in either on loopback.
            let loss = try #require(report.handoffLoss)
            #expect(loss.insideLost == 0 && loss.outsideLost == 0 && loss.insidePackets > 1000)
            #expect(report.streams.allSatisfy { $0.lost == 0 && $0.duplicates == 0 })
            // A listener's stream came from every host the relay had; GStreamer, fed it from the
            // capture, hears what our receiver wrote.
            // (Only when its speaker kept time in every turn: GStreamer is held to every turn.)
            let recording = try #require(voice.recordings.first { $0.receiverName == "peer-3" && $0.spurts.count > 1 })
            let stream = try #require(report.streams.first { $0.ssrc == recording.ssrc && $0.receiverName == "peer-3" })
            #expect(stream.senders.count >= 3, "\(stream.senders)")
            if turns(of: recording).allSatisfy(\.keptTime) {
                try VoiceEndToEndTests.gstreamerHearsWhatWeWrote(
                    pcap: result.folder.capture, stream: stream, ours: result.folder.path + "/" + recording.file,
                    spurts: recording.spurts, scratch: folder)
            } else {
                print("HandoffEndToEndTests: \(recording.file)'s speaker was late in a turn: GStreamer not asked")
            }
        }
    }
}
