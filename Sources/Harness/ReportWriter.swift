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
            do {
                report.attach(try CaptureAnalysis.analyse(file: folder.capture), events: events)
            } catch {
                report.attachCaptureError("\(error)")
            }
        }
        let json = try ReportFiles.jsonValue(report)
        report.expectations = expectations.map { $0.check(against: json) }
        try save(try ReportFiles.json(report), to: folder.reportJSON)
        try save(report.text(folder: folder.path), to: folder.reportText)
        try save(report.html(folder: folder.path), to: folder.reportHTML)
        return report
    }

    /// Rebuilds the report of an existing run folder from its events.jsonl and scenario.yaml.
    public static func rewrite(folder: RunFolder) throws -> RunReport {
        let (events, malformed): ([EventLine], Int)
        do {
            (events, malformed) = try ReportFiles.readEvents(at: folder.events)
        } catch {
            throw HarnessError.file(path: folder.events, reason: "cannot read: \(error.localizedDescription)")
        }
        var expectations: [ReportExpectation] = []
        if let source = try? String(contentsOfFile: folder.scenarioCopy, encoding: .utf8) {
            expectations = (try? Scenario.parse(source, file: folder.scenarioCopy))?.expectations ?? []
        }
        return try write(events: events, malformed: malformed, expectations: expectations, folder: folder)
    }

    private static func save(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw HarnessError.file(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
