import Foundation
import Testing

@testable import Voice

/// Real libspeex on the reference recording: what comes out must be the source, measured by
/// energy and correlation, and concealment must fill a missing frame.
@Suite struct CodecTests {
    static let reference = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Testbed/audio/reference.wav").path

    static func roundTrip(_ samples: [Int16], band: SpeexBand, quality: Int) -> [Int16] {
        let encoder = SpeexEncoder(band: band, quality: quality)
        let decoder = SpeexDecoder(band: band)
        var out: [Int16] = []
        for start in stride(from: 0, to: samples.count - band.frameSize, by: band.frameSize) {
            out += decoder.decode(encoder.encode(Array(samples[start..<(start + band.frameSize)])))
        }
        return out
    }

    @Test func theReferenceRecordingIsWhatTheREADMESays() throws {
        let wav = try WAVFile.read(path: Self.reference)
        #expect(wav.sampleRate == 16000)
        let seconds = Double(wav.samples.count) / 16000
        #expect(seconds >= 10 && seconds <= 30)
        #expect(AudioSimilarity.energy(wav.samples) > 1000)  // speech, not silence
    }

    @Test func widebandRoundTripKeepsTheSpeech() throws {
        let source = Array(try WAVFile.read(path: Self.reference).samples.prefix(16000 * 10))
        let decoded = Self.roundTrip(source, band: .wideband, quality: 8)
        let (value, lag) = AudioSimilarity.correlation(source, decoded, maxLag: 800)
        #expect(value > 0.8, "correlation \(value) at lag \(lag)")
        let ratio = AudioSimilarity.energy(decoded) / AudioSimilarity.energy(source)
        #expect(ratio > 0.5 && ratio < 2, "energy ratio \(ratio)")
    }

    @Test(arguments: SpeexBand.allCases)
    func everyBandHasTwentyMillisecondFrames(band: SpeexBand) {
        let encoder = SpeexEncoder(band: band)
        let decoder = SpeexDecoder(band: band)
        let tone = (0..<band.frameSize).map { Int16(8000 * sin(Double($0) * 2 * .pi * 440 / Double(band.sampleRate))) }
        let payload = encoder.encode(tone)
        #expect(!payload.isEmpty)
        #expect(decoder.decode(payload).count == band.frameSize)
        #expect(band.frameSize * 50 == band.sampleRate)
    }

    @Test func aMissingFrameIsConcealedNotSilent() throws {
        let source = Array(try WAVFile.read(path: Self.reference).samples.prefix(16000 * 3))
        let encoder = SpeexEncoder()
        let decoder = SpeexDecoder()
        var concealed: [Int16] = []
        for (index, start) in stride(from: 0, to: source.count - 320, by: 320).enumerated() {
            let payload = encoder.encode(Array(source[start..<(start + 320)]))
            let frame = decoder.decode(index == 75 ? nil : payload)
            if index == 75 { concealed = frame }
        }
        #expect(concealed.count == 320)
        #expect(AudioSimilarity.energy(concealed) > 0)  // extrapolated from the speech before, not zeros
    }

    @Test func wavFilesRoundTripAndBadOnesSayWhy() throws {
        let wav = WAVFile(sampleRate: 16000, samples: [0, 1, -1, .max, .min, 1234])
        #expect(try WAVFile(bytes: wav.bytes) == wav)
        #expect(throws: WAVFile.ReadError.notRIFF) { try WAVFile(bytes: Array("hello world!".utf8)) }
        var stereo = wav.bytes
        stereo[22] = 2
        #expect(throws: WAVFile.ReadError.unsupportedFormat(channels: 2, bitsPerSample: 16, encoding: 1)) {
            try WAVFile(bytes: stereo)
        }
        #expect(throws: WAVFile.ReadError.truncated(offset: 36)) { try WAVFile(bytes: Array(wav.bytes.dropLast(3))) }
    }
}
