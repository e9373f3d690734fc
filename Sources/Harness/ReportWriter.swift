import Analysis
import ControlProtocol
import Foundation
import Scenario

/// Builds a run's report from its events, checks the scenario's expectations against it, and
/// writes `report.json`, `report.txt` and `report.html` into the run folder.
public enum ReportWriter {
    @discardableResult
    public static func write(
        events: [EventLine], malformed: Int, expectations: [ReportExpectation], folder: RunFolder
    ) throws -> RunReport {
        var report = RunReport(events: events, malformedEventLines: malformed)
        if FileManager.default.fileExists(atPath: folder.capture) {
            // What the emulated links dropped (netns mode) tells the network's losses from the peers'.
            var drops: NetworkDrops?
            var dropsError: String?
            if FileManager.default.fileExists(atPath: folder.drops) {
                do throws(CaptureError) {
                    drops = try NetworkDrops.read(file: folder.drops)
                    dropsError = drops?.error.map { "\(folder.drops): \($0)" }
                } catch {
                    dropsError = "\(folder.drops): \(error)"
                }
            }
            do {
                let capture = try CaptureAnalysis.analyse(
                    file: folder.capture, bindings: SocketBindings(events: events))
                report.attach(capture, drops: drops, events: events)
                report.capture?.networkDropsError = dropsError
            } catch {
                report.attachCaptureError("\(error)")
            }
        }
        let json = try ReportFiles.jsonValue(report)
        report.expectations = judged(expectations, capture: report.capture != nil).map { $0.check(against: json) }
        try save(try ReportFiles.json(report), to: folder.reportJSON)
        try save(report.text(folder: folder.path), to: folder.reportText)
        try save(report.html(folder: folder.path), to: folder.reportHTML)
        return report
    }

    /// The scenario's expectations, and for a captured run, unless the scenario says how many
    /// it accepts, that the kernel dropped none of its packets: figures from part of the traffic
    /// would pass for the whole.
    static func judged(_ expectations: [ReportExpectation], capture: Bool) -> [ReportExpectation] {
        let drops: [ReportExpectation.PathComponent] = [.key("capture"), .key("kernelDrops")]
        guard capture, !expectations.contains(where: { $0.path == drops }) else { return expectations }
        return expectations + [
            ReportExpectation(
                text: "capture.kernelDrops == 0", path: drops, comparison: .equal, value: 0,
                position: SourcePosition(file: "(every captured run)", line: 0, column: 0))
        ]
    }

    /// What rebuilding a run folder's report found besides the report: events.jsonl lines it
    /// could not read (counted in the report too) and problems with the scenario copy's
    /// `expect:` lines (the report then has no expectations).
    public struct Rebuilt: Sendable {
        public var report: RunReport
        public var unreadableEventLines: [ReportFiles.UnreadableLine]
        public var expectationProblems: String?
    }

    /// Rebuilds the report of an existing run folder from its events.jsonl and the
    /// expectations of its scenario.yaml.
    public static func rewrite(folder: RunFolder) throws -> Rebuilt {
        let (events, unreadable): ([EventLine], [ReportFiles.UnreadableLine])
        do {
            (events, unreadable) = try ReportFiles.readEvents(at: folder.events)
        } catch {
            throw HarnessError.file(path: folder.events, reason: "cannot read: \(error.localizedDescription)")
        }
        var expectations: [ReportExpectation] = []
        var problems: String?
        if FileManager.default.fileExists(atPath: folder.scenarioCopy) {
            do throws(Diagnostics) {
                let text = try ScenarioLoader.text(of: folder.scenarioCopy)
                expectations = try Scenario.expectations(in: text, file: folder.scenarioCopy)
            } catch {
                problems = error.description
            }
        }
        let report = try write(
            events: events, malformed: unreadable.count, expectations: expectations, folder: folder)
        return Rebuilt(report: report, unreadableEventLines: unreadable, expectationProblems: problems)
    }

    private static func save(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw HarnessError.file(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
