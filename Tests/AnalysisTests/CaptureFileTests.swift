import Foundation
import SeamlessTestKit
import Testing

@testable import Analysis

/// Reading a capture from its file (mapped and populated at once): the same figures as from
/// its bytes, and a clear error for what is not a readable file.
@Suite struct CaptureFileTests {
    @Test func aFileIsJudgedAsItsBytesAre() throws {
        let folder = temporaryDirectory("capture-file")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let builder = CaptureAnalysisTests.stream(Array(0..<200).filter { $0 != 17 })
        let path = folder + "/voice.pcap"
        try Data(builder.bytes).write(to: URL(fileURLWithPath: path))
        let fromFile = try CaptureAnalysis.analyse(file: path)
        #expect(fromFile == (try CaptureAnalysisTests.analyse(builder)))
        #expect(fromFile.streams.map(\.packets) == [199] && fromFile.streams.map(\.lost) == [1])
        #expect(fromFile.details.first?.arrivals.count == 199)
        #expect(fromFile.details.first?.arrivals.last?.sequence == 199, "sequences count from the first arrival")
    }

    @Test func whatIsNotAReadableFileSaysWhy() throws {
        let folder = temporaryDirectory("capture-file")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: CaptureError.unreadable(path: folder + "/none.pcap", reason: "open: No such file or directory"))
        {
            try CaptureAnalysis.analyse(file: folder + "/none.pcap")
        }
        #expect(throws: CaptureError.unreadable(path: folder, reason: "not a regular file")) {
            try CaptureAnalysis.analyse(file: folder)
        }
        #expect(FileManager.default.createFile(atPath: folder + "/empty.pcap", contents: Data()))
        #expect(throws: CaptureError.pcap(.truncatedFileHeader(length: 0))) {
            try CaptureAnalysis.analyse(file: folder + "/empty.pcap")
        }
    }
}
