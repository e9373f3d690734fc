import Foundation
import Testing

@testable import Scenario

/// Every scenario a user can run from `Testbed/scenarios/` validates, including its plan.
@Suite struct ShippedScenarioTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Testbed/scenarios")

    static var files: [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "yaml" }.sorted { $0.path < $1.path }
    }

    @Test func theShippedScenariosAreThere() {
        let names = Set(Self.files.map(\.lastPathComponent))
        #expect(names.isSuperset(of: ["smoke.yaml", "churn.yaml", "scale-256.yaml", "links.yaml", "dht-256.yaml", "dht-churn.yaml"]))
    }

    @Test func everyShippedScenarioValidates() throws {
        for file in Self.files {
            let text = try String(contentsOf: file, encoding: .utf8)
            do {
                let scenario = try Scenario.parse(text, file: file.lastPathComponent)
                #expect(scenario.name == file.deletingPathExtension().lastPathComponent, "name differs from file")
                #expect(!(try scenario.plan().actions.isEmpty))
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
