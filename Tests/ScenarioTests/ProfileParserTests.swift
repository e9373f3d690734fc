import Foundation
import LinkEmulation
import Testing

@testable import Scenario

/// Link profiles: the shipped files parse to exactly what they say; bad ones are diagnosed
/// where the problem is.
@Suite struct ProfileParserTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Testbed/profiles")

    @Test func everyShippedProfileParsesAndIsNamedAfterItsFile() throws {
        let files = try FileManager.default.contentsOfDirectory(at: Self.folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }
        #expect(
            Set(files.map(\.lastPathComponent)).isSuperset(of: [
                "lan.yaml", "wifi.yaml", "wan.yaml", "lossy.yaml", "mobile.yaml",
            ]))
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(text.hasPrefix("# "), "\(file.lastPathComponent) has no comment saying what it models")
            let profile = try NamedProfile.parse(text, file: file.lastPathComponent)
            #expect(profile.name == file.deletingPathExtension().lastPathComponent)
        }
    }

    @Test func wifiSaysExactlyWhatItsFileSays() throws {
        let text = try String(contentsOf: Self.folder.appendingPathComponent("wifi.yaml"), encoding: .utf8)
        let wifi = try NamedProfile.parse(text, file: "wifi.yaml").profile
        #expect(
            wifi
                == LinkProfile(
                    delay: .milliseconds(3), jitter: .normal(deviation: .milliseconds(2)),
                    loss: .gilbertElliott(enterBad: 0.005, leaveBad: 0.3, lossInGood: 0.0005, lossInBad: 0.25),
                    duplication: 0, reordering: 0.0005, rate: 50_000_000, queueBytes: 256 * 1024, mtu: 1500))
    }

    @Test func problemsAreDiagnosedWhereTheyAre() {
        let text = """
            name: broken
            delay: 5x
            jitter: {distribution: normal}
            loss: {model: independent, probability: 1.5}
            rate: 50mbit
            mtu: 9
            colour: red
            """
        do {
            _ = try NamedProfile.parse(text, file: "broken.yaml")
            Issue.record("parsed")
        } catch {
            #expect(
                error.items.map { "\($0.position.line):\($0.position.column): \($0.message)" } == [
                    "2:8: bad duration '5x': use a number and a unit (250ms, 5s, 2m)",
                    "3:9: missing 'deviation'",
                    "4:41: expected a probability from 0 to 1",
                    "5:7: bad rate '50mbit': a whole number and a unit (kbit, Mbit, Gbit), like 50Mbit",
                    "6:6: mtu must be a whole number of bytes from 68 to 65535",
                    "7:1: unknown key 'colour' (expected one of: name, delay, jitter, loss, duplication, reordering, rate, queue, mtu)",
                ])
        }
    }
}
