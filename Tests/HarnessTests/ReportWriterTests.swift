import Scenario
import Testing

@testable import Harness

/// A captured run is judged on a capture the kernel dropped nothing of, unless its scenario
/// says how many drops it accepts.
@Suite struct ReportWriterTests {
    static func expectation(_ text: String, _ path: [ReportExpectation.PathComponent], _ value: Double)
        -> ReportExpectation
    {
        ReportExpectation(
            text: text, path: path, comparison: .lessOrEqual, value: value,
            position: SourcePosition(file: "s.yaml", line: 9, column: 5))
    }

    @Test func aCapturedRunIsHeldToNoKernelDropsUnlessItsScenarioSaysOtherwise() {
        let hops = Self.expectation("dht.meanHops <= 4.5", [.key("dht"), .key("meanHops")], 4.5)
        let judged = ReportWriter.judged([hops], capture: true)
        #expect(judged.count == 2 && judged[0] == hops)
        #expect(judged[1].text == "capture.kernelDrops == 0" && judged[1].comparison == .equal && judged[1].value == 0)
        // A scenario that accepts some keeps its own check, and a run without capture has none.
        let accepts = Self.expectation("capture.kernelDrops <= 100", [.key("capture"), .key("kernelDrops")], 100)
        #expect(ReportWriter.judged([hops, accepts], capture: true) == [hops, accepts])
        #expect(ReportWriter.judged([hops], capture: false) == [hops])
    }
}
