import Foundation
import FuzzTargets
import Testing

/// Every input the fuzzers keep (their corpus in `Fuzz/Corpus/<target>`) and every input that
/// once crashed one (`Fuzz/Regressions/<target>`) runs through its target again in `make test`,
/// without sanitizers: a decoder that traps, fails its round trip or hangs on one of them fails
/// here (a trap ends the test run, naming the target).
@Suite struct FuzzRegressionTests {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzz.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        return ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [])
            .filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyTargetHasASeededCorpusAndAnExecutable(target: FuzzTarget) {
        #expect(!Self.inputs("Corpus", target).isEmpty, "no corpus for \(target.rawValue)")
        let entry = Self.fuzz.appendingPathComponent("Targets/\(target.rawValue)/Fuzz.swift").path
        #expect(FileManager.default.fileExists(atPath: entry), "no libFuzzer executable for \(target.rawValue)")
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyKeptInputRunsThroughItsTarget(target: FuzzTarget) throws {
        let clock = ContinuousClock()
        for file in Self.inputs("Regressions", target) + Self.inputs("Corpus", target) {
            let bytes = try Data(contentsOf: file)
            let started = clock.now
            bytes.withUnsafeBytes { target.run($0) }
            // Not a timing goal: an input that takes seconds is a hang the fuzzer would report.
            #expect(clock.now - started < .seconds(10), "\(file.lastPathComponent) took \(clock.now - started)")
        }
    }
}
