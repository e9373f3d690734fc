import ControlProtocol
import Testing

import struct Scenario.ReportExpectation
import struct Scenario.SourcePosition

@testable import Analysis

@Suite struct ExpectationTests {
    static let report: JSONValue = .object([
        "peers": .object(["crashed": .number(2), "maxRssMB": .number(11.5)]),
        "startup": .object(["allReadyMs": .null]),
        "handoffs": .array([.object(["lost": .number(0)]), .object(["lost": .number(3)])]),
        "streams": .array([]),
        "flags": .object(["ok": .bool(true)]),
    ])

    static func expectation(
        _ path: [ReportExpectation.PathComponent], _ comparison: ReportExpectation.Comparison, _ value: Double
    ) -> ReportExpectation {
        ReportExpectation(
            text: "x", path: path, comparison: comparison, value: value,
            position: SourcePosition(file: "f", line: 1, column: 1))
    }

    @Test func comparesANumberAtAPath() {
        let passing = Self.expectation([.key("peers"), .key("crashed")], .equal, 2).check(against: Self.report)
        #expect(passing.passed)
        #expect(passing.value == .number(2))
        #expect(!Self.expectation([.key("peers"), .key("maxRssMB")], .less, 11).check(against: Self.report).passed)
    }

    @Test func everyElementMustPass() {
        let lost = Self.expectation([.key("handoffs"), .every, .key("lost")], .equal, 0).check(against: Self.report)
        #expect(!lost.passed)
        #expect(lost.value == .array([.number(0), .number(3)]))
        #expect(
            Self.expectation([.key("handoffs"), .every, .key("lost")], .lessOrEqual, 3).check(against: Self.report)
                .passed)
        #expect(
            Self.expectation([.key("handoffs"), .index(1), .key("lost")], .equal, 3).check(against: Self.report).passed)
    }

    @Test func nothingMeasuredIsAFailure() {
        #expect(
            !Self.expectation([.key("streams"), .every, .key("lost")], .equal, 0).check(against: Self.report).passed)
        let missing = Self.expectation([.key("dht"), .key("lookups")], .greater, 0).check(against: Self.report)
        #expect(!missing.passed)
        #expect(missing.value == .null)
        #expect(
            !Self.expectation([.key("startup"), .key("allReadyMs")], .less, 1e9).check(against: Self.report).passed)
    }

    @Test func booleansCountAsOneAndZero() {
        #expect(Self.expectation([.key("flags"), .key("ok")], .equal, 1).check(against: Self.report).passed)
    }

    @Test func reportJSONCarriesTheContractKeys() throws {
        let json = try ReportFiles.jsonValue(RunReport(events: LifecycleAnalysisTests.run))
        for path in [
            ["peers", "spawned"], ["peers", "left"], ["peers", "crashed"], ["peers", "maxRssMB"],
            ["startup", "allReadyMs"],
        ] {
            let value = path.reduce(Optional(json)) { $0?[$1] }
            #expect(value?.double != nil, "report.json lacks \(path.joined(separator: "."))")
        }
    }

    @Test func aKnownMissIsReportedAsOneButDoesNotFailTheRun() {
        var missed = Self.expectation([.key("handoffs"), .every, .key("lost")], .equal, 0)
        missed.knownMiss = "the second handoff loses three packets"
        let result = missed.check(against: Self.report)
        #expect(!result.passed)
        #expect(result.acceptable)
        #expect(result.verdict == "MISS")
        var met = Self.expectation([.key("peers"), .key("crashed")], .equal, 2)
        met.knownMiss = "was missed once"
        #expect(met.check(against: Self.report).verdict == "PASS*")
        var report = RunReport(events: LifecycleAnalysisTests.run)
        report.expectations = [result, met.check(against: Self.report)]
        let text = report.text()
        #expect(text.contains("MISS  x  ([0, 3])  known miss: the second handoff loses three packets"))
        #expect(text.contains("PASS* x  (2)  marked a known miss, but met: the mark can go"))
    }

    @Test func textReportShowsEachExpectation() {
        var report = RunReport(events: LifecycleAnalysisTests.run)
        report.expectations = [
            ExpectationResult(expr: "peers.crashed == 1", value: .number(1), passed: true),
            ExpectationResult(expr: "startup.allReadyMs < 5", value: .number(80), passed: false),
        ]
        let text = report.text()
        #expect(text.contains("PASS  peers.crashed == 1"))
        #expect(text.contains("FAIL  startup.allReadyMs < 5"))
        #expect(text.contains("all 3 ready in 80 ms"))
    }
}
