import ControlProtocol
import Foundation
import SeamlessTestKit
import Testing

@testable import Analysis

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// report.html is one well-formed, self-contained file with its charts.
@Suite struct HTMLReportTests {
    final class Checker: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        var externalReferences: [String] = []
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            elements[name, default: 0] += 1
            for key in ["src", "href", "xlink:href"] {
                if let value = attributes[key] { externalReferences.append(value) }
            }
            if name == "link" || name == "script" || name == "iframe" || name == "img" {
                externalReferences.append(name)
            }
        }
    }

    static func check(_ html: String) -> Checker? {
        let parser = XMLParser(data: Data(html.utf8))
        let checker = Checker()
        parser.delegate = checker
        return parser.parse() ? checker : nil
    }

    @Test func aRunReportIsWellFormedSelfContainedAndHasItsCharts() throws {
        var report = RunReport(events: LifecycleAnalysisTests.run)
        var builder = CaptureAnalysisTests.stream(Array(0..<50) + Array(55..<100))
        builder.udp(
            at: CaptureAnalysisTests.t0, from: ("127.100.0.4", 53), to: ("127.100.0.5", 53), payload: [1, 2, 3])
        report.attach(try CaptureAnalysisTests.analyse(builder), events: LifecycleAnalysisTests.run)
        report.expectations = [
            ExpectationResult(expr: "streams[*].lost == 0", value: .array([.number(5)]), passed: false)
        ]
        let html = report.html(folder: "Captures/<smoke> & co")
        let checker = try #require(Self.check(html), "report.html is not well-formed")
        #expect(checker.externalReferences.isEmpty)
        #expect(checker.elements["svg"] == 3)  // bandwidth, one stream, gap distribution
        #expect(checker.elements["polyline", default: 0] >= 1)
        #expect(checker.elements["circle", default: 0] == 95)
        #expect(html.contains("Captures/&lt;smoke&gt; &amp; co"))
        #expect(html.contains("<td class=\"fail\">FAIL</td>"))
    }

    @Test func aCaptureReportIsWellFormedToo() throws {
        let report = try CaptureAnalysisTests.analyse(CaptureAnalysisTests.stream(Array(0..<20)))
        let checker = try #require(Self.check(report.html(file: "x.pcap")))
        #expect(checker.externalReferences.isEmpty)
        #expect(checker.elements["svg"] == 3)
    }
}
