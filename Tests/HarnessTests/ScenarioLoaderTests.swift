import Foundation
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// A scenario kept anywhere finds its link profiles in the documented order, and a profile
/// found nowhere is an error with its position: never a perfect network in disguise.
@Suite struct ScenarioLoaderTests {
    static let project = ShippedScenarioTests.root.path

    static let wan = """
        name: wan
        mode: netns
        peers: {count: 2, profile: wan}
        timeline:
          - at: 0s
            spawn: all
          - at: 1s
            stop:
        """

    /// `home/exp/wan.yaml`, and `home/profiles/` when `beside` has profile files for it.
    static func user(beside: [String: String] = [:]) throws -> (home: String, scenario: String) {
        let home = temporaryDirectory("loader")
        try FileManager.default.createDirectory(atPath: home + "/exp", withIntermediateDirectories: true)
        try wan.write(toFile: home + "/exp/wan.yaml", atomically: true, encoding: .utf8)
        if !beside.isEmpty {
            try FileManager.default.createDirectory(atPath: home + "/profiles", withIntermediateDirectories: true)
            for (file, text) in beside {
                try text.write(toFile: home + "/profiles/" + file, atomically: true, encoding: .utf8)
            }
        }
        return (home, home + "/exp/wan.yaml")
    }

    static func problems(_ body: () throws -> Void) -> [String] {
        do {
            try body()
            return []
        } catch let error as Diagnostics {
            return error.items.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test func aScenarioOutsideTheProjectFindsTheProjectsProfiles() throws {
        let (_, scenario) = try Self.user()
        let loaded = try ScenarioLoader.load(scenario, project: Self.project)
        let wan = try #require(loaded.profiles["wan"])
        #expect(wan.file == Self.project + "/Testbed/profiles/wan.yaml")
        #expect(wan.profile.delay == .milliseconds(30))
    }

    @Test func aProfileFoundNowhereIsAnErrorAtItsPosition() throws {
        let (home, scenario) = try Self.user()
        let found = Self.problems { _ = try ScenarioLoader.load(scenario, project: nil) }
        #expect(
            found == [
                "\(scenario):3:28: error: unknown link profile 'wan' (searched \(home)/profiles; no profiles found)"
            ])
    }

    @Test func profilesBesideTheScenariosFolderComeFirstThenTheProjectsThenTheFlags() throws {
        let (home, scenario) = try Self.user(beside: ["wan.yaml": "name: wan\ndelay: 1ms\n"])
        let extra = temporaryDirectory("extra")
        try "name: satellite\ndelay: 300ms\n".write(
            toFile: extra + "/satellite.yaml", atomically: true, encoding: .utf8)
        try "name: lan\ndelay: 9ms\n".write(toFile: extra + "/lan.yaml", atomically: true, encoding: .utf8)
        let loaded = try ScenarioLoader.load(scenario, profileFolders: [extra], project: Self.project)
        #expect(loaded.profiles.folders == [home + "/profiles", Self.project + "/Testbed/profiles", extra])
        #expect(loaded.profiles["wan"]?.profile.delay == .milliseconds(1))
        #expect(loaded.profiles["wan"]?.file == home + "/profiles/wan.yaml")
        #expect(loaded.profiles["satellite"]?.profile.delay == .milliseconds(300))
        // The project's lan comes before the flag's.
        #expect(loaded.profiles["lan"]?.file == Self.project + "/Testbed/profiles/lan.yaml")
    }

    @Test func theProjectsOwnScenariosSearchItsProfilesOnce() {
        let folders = ScenarioLoader.profileFolders(
            scenario: Self.project + "/Testbed/scenarios/links.yaml", project: Self.project, extra: [])
        #expect(folders == [Self.project + "/Testbed/profiles"])
    }

    @Test func badProfileFilesAreNamedWithTheirPositions() throws {
        let (home, scenario) = try Self.user(beside: [
            "wan.yaml": "name: wan\ndelay: 1ms\n", "copy.yaml": "name: wan\ndelay: 2ms\n",
            "broken.yaml": "name: broken\ndelay: \u{1}\n",
        ])
        try Data([0x6E, 0x61, 0x6D, 0x65, 0x3A, 0x20, 0xFF, 0x0A]).write(
            to: URL(fileURLWithPath: home + "/profiles/latin.yaml"))
        let found = Self.problems { _ = try ScenarioLoader.load(scenario, project: nil) }
        #expect(
            found.contains { $0.hasPrefix(home + "/profiles/latin.yaml:1:7: error: not UTF-8: byte 0xff at offset 6") })
        #expect(
            found.contains { $0.hasPrefix(home + "/profiles/wan.yaml:1:1: error: profile 'wan' is also defined in") })
        #expect(found.contains { $0.hasPrefix(home + "/profiles/broken.yaml:") })
    }

    @Test func aScenarioThatIsNotUTF8IsNamedByItsOffset() throws {
        let folder = temporaryDirectory("loader")
        let path = folder + "/x.yaml"
        try Data(Array("name: x\npeers: 1\ntimeline: []\n# \u{0}".utf8) + [0xC0, 0x80]).write(
            to: URL(fileURLWithPath: path))
        #expect(
            Self.problems { _ = try ScenarioLoader.load(path, project: nil) }
                == ["\(path):4:4: error: not UTF-8: byte 0xc0 at offset 33 (save the file as UTF-8)"])
        #expect(
            Self.problems { _ = try ScenarioLoader.load(folder + "/missing.yaml", project: nil) }
                == ["\(folder)/missing.yaml:1:1: error: no such file"])
    }
}
