import Foundation
import Scenario
import Testing

@testable import Harness

/// Every scenario a user can run from `Testbed/scenarios/` validates as `testbed validate`
/// reads it: its link profiles found through the documented search order, its audio files
/// there, its plan expanded.
@Suite struct ShippedScenarioTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let folder = root.appendingPathComponent("Testbed/scenarios")

    static var files: [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "yaml" }.sorted { $0.path < $1.path }
    }

    @Test func theShippedScenariosAreThere() {
        let names = Set(Self.files.map(\.lastPathComponent))
        #expect(
            names.isSuperset(of: [
                "smoke.yaml", "churn.yaml", "scale-256.yaml", "links.yaml", "dht-256.yaml", "dht-churn.yaml",
                "voice-basic.yaml", "voice-handoff.yaml", "voice-handoff-netns.yaml",
            ]))
    }

    @Test(arguments: files.map(\.lastPathComponent))
    func everyShippedScenarioValidates(file: String) throws {
        // Audio paths are relative to the folder testbed runs in, the repository root.
        try #require(
            FileManager.default.currentDirectoryPath == Self.root.path,
            "the tests run in the repository root, as testbed does")
        do {
            let loaded = try ScenarioLoader.load(Self.folder.appendingPathComponent(file).path, project: Self.root.path)
            #expect(loaded.scenario.name == (file as NSString).deletingPathExtension, "name differs from file")
            #expect(!(try loaded.scenario.plan().actions.isEmpty))
            for name in loaded.scenario.profileNames {
                #expect(loaded.profiles[name]?.file.hasSuffix("Testbed/profiles/\(name).yaml") == true)
            }
        } catch {
            Issue.record("\(error)")
        }
    }
}
