import Foundation
import Testing

@testable import Scenario

/// YAML a user (or an attacker) hands the testbed: nothing makes validation hang, eat memory
/// or overflow the stack, and every refusal names its place.
@Suite struct YAMLSourceTests {
    static func problems(_ yaml: String) -> [String] {
        do {
            _ = try Scenario.parse(yaml, file: "y.yaml")
            return []
        } catch {
            return error.items.map { "\($0.position.line):\($0.position.column): \($0.message)" }
        }
    }

    /// `levels` anchored mappings, each using the one before as a key and as a value.
    static func laughsInKeys(levels: Int) -> String {
        var lines = ["name: x", "peers: 1", "timeline: []", "l0: &l0 {k: v}"]
        for level in 1..<levels {
            lines.append("l\(level): &l\(level) {*l\(level - 1) : *l\(level - 1), x: *l\(level - 1)}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func aliasesAsKeysAreRefusedAtOnce() {
        // Fifteen levels took 9 s and each level three times more; now it is refused unread.
        let clock = ContinuousClock()
        let start = clock.now
        let found = Self.problems(Self.laughsInKeys(levels: 40))
        #expect(clock.now - start < .seconds(1))
        #expect(found.count == 39)
        #expect(
            found.first == "5:10: an alias (*l0) cannot be a mapping key: write the key out (quote it if it is text)")
    }

    @Test func aliasesAsValuesThatExpandWithoutEndAreRefused() {
        var lines = ["name: x", "peers: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1..<9 {
            lines.append(
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        lines.append("timeline: *a8")
        let found = Self.problems(lines.joined(separator: "\n"))
        #expect(
            found == [
                "1:1: the document expands to more than 100000 nodes (aliases repeat what they name); write it out plainly"
            ])
    }

    @Test func aliasesThatStayReasonableStillWork() throws {
        let yaml = """
            name: anchors
            peers: &n 3
            timeline:
              - &spawn {at: 0s, spawn: all}
              - at: 1s
                stop:
            """
        #expect(try Scenario.parse(yaml, file: "a.yaml").peerCount == 3)
    }

    @Test func textThatMerelyLooksLikeAnAliasIsNotOne() throws {
        let yaml = """
            name: text
            description: |
              *bold*: not an alias, a block scalar
              - *still*: text
            peers: 2  # *a: a comment
            timeline:
              - at: 0s
                spawn: "*quoted*: text"
            """
        #expect(Self.problems(yaml).allSatisfy { !$0.contains("alias") })
    }

    @Test func nestingDeeperThanTheLimitIsRefused() {
        let flow = "name: x\npeers: 1\ntimeline: " + String(repeating: "[", count: 100_000) + "\n"
        #expect(Self.problems(flow).first == "3:74: collections nested deeper than 64 levels")
        let block = "name: x\npeers: 1\ntimeline:\n" + String(repeating: "- ", count: 50_000) + "x\n"
        #expect(Self.problems(block).first == "4:129: collections nested deeper than 64 levels")
    }

    @Test func bytesThatAreNotUTF8AreNamedByLineColumnAndOffset() throws {
        let bytes = Array("name: x\npeers: 1\ndescription: caf".utf8) + [0xE9] + Array("\ntimeline: []\n".utf8)
        #expect(throws: Diagnostics.self) { try YAMLSource.text(bytes, file: "latin1.yaml") }
        do {
            _ = try YAMLSource.text(bytes, file: "latin1.yaml")
        } catch {
            #expect(
                error.description
                    == "latin1.yaml:3:17: error: not UTF-8: byte 0xe9 at offset 33 (save the file as UTF-8)")
        }
        #expect(try YAMLSource.text(Array("name: café\n".utf8), file: "ok.yaml") == "name: café\n")
    }

    @Test func aProfileFileIsCheckedTheSameWay() {
        let laughs = "name: p\nx: &a {k: v}\ny: {*a : 1}\n"
        #expect(throws: Diagnostics.self) { try NamedProfile.parse(laughs, file: "p.yaml") }
    }

    @Test func aRunFoldersExpectationsAreReadWithoutTheRestOfTheScenario() throws {
        let yaml = """
            name: old-run
            mode: netns
            peers: {count: 2, profile: a-profile-nobody-has-now}
            timeline: []
            expect:
              - peers.crashed == 0
              - {check: dht.correct == 2000, known-miss: "lookups judged wrong, issue 17"}
            """
        let expectations = try Scenario.expectations(in: yaml, file: "scenario.yaml")
        #expect(expectations.map(\.text) == ["peers.crashed == 0", "dht.correct == 2000"])
        #expect(expectations.map(\.knownMiss) == [nil, "lookups judged wrong, issue 17"])
    }

    @Test func aKnownMissMustSayWhy() {
        let yaml = "name: x\npeers: 1\ntimeline: []\nexpect:\n  - {check: peers.crashed == 0, known-miss: \"\"}\n"
        #expect(Self.problems(yaml) == ["5:45: 'known-miss' must say why the goal is missed"])
    }
}
