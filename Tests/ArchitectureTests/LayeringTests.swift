import Foundation
import Testing

/// The layering of DESIGN.md, checked on the sources: value targets do no I/O (no NIO, no C
/// library, no Foundation), the judge never imports what it judges, coordinator and peer share
/// only the control protocol, and nothing imports an executable.
@Suite struct LayeringTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// What each target must not import.
    static let forbidden: [String: Set<String>] = {
        let io: Set<String> = [
            "NIOCore", "NIOPosix", "NIOExtras", "Foundation", "FoundationEssentials", "Glibc", "CPcap", "CSpeex",
            "CSpeexDSP", "CSeamlessLinux",
        ]
        let executables: Set<String> = ["peer", "testbed"]
        let upper: Set<String> = ["Harness", "PeerNode", "Analysis", "Voice", "ServiceRuntime", "VoiceService"]
        return [
            "OverlayCore": io.union(upper).union(executables).union(["Scenario", "ControlProtocol", "RTP"]),
            "Scenario": io.union(upper).union(executables).union(["ControlProtocol", "RTP"]),
            // Its JSON lines are parsed with FoundationEssentials' JSONDecoder (and nothing else of it).
            "ControlProtocol": io.subtracting(["FoundationEssentials"]).union(upper).union(executables).union([
                "Scenario", "RTP",
            ]),
            "RTP": io.union(upper).union(executables).union(["OverlayCore", "Scenario", "ControlProtocol"]),
            "LinkEmulation": io.union(upper).union(executables).union(["Scenario", "ControlProtocol", "RTP"]),
            "DHT": io.union(upper).union(executables).union(["Scenario", "ControlProtocol", "RTP", "Registry"]),
            "Registry": io.union(upper).union(executables).union(["Scenario", "ControlProtocol", "RTP"]),
            "Mobility": io.union(upper).union(executables).union([
                "Scenario", "ControlProtocol", "RTP", "DHT", "Registry", "VoiceRelay",
            ]),
            "VoiceRelay": io.union(upper).union(executables).union(["Scenario", "ControlProtocol", "DHT", "Registry"]),
            // A kind's events and formats, which the judge reads: nothing of the kind itself.
            "VoiceWire": io.union(upper).union(executables).union(["Scenario", "VoiceRelay", "Mobility", "RTP"]),
            "GameWire": io.union(upper).union(executables).union(["Scenario", "GameWorld", "GameService", "Mobility"]),
            "Analysis": [
                "Harness", "PeerNode", "Voice", "ServiceRuntime", "VoiceService", "VoiceRelay", "GameWorld",
                "GameService", "Mobility", "NIOCore", "NIOPosix",
            ].reduce(
                into: executables
            ) { $0.insert($1) },
            "Harness": executables.union(["PeerNode", "Voice", "ServiceRuntime", "VoiceService", "VoiceRelay"]),
            "PeerNode": executables.union(["Harness", "Analysis", "Scenario"]),
            "Voice": executables.union(["Harness", "Analysis", "PeerNode", "Scenario", "NIOCore", "NIOPosix"]),
            // The runtime knows no kind: every kind plugs into it.
            "ServiceRuntime": executables.union([
                "Harness", "Analysis", "Scenario", "VoiceService", "VoiceRelay", "VoiceWire", "Voice", "RTP",
                "GameService", "GameWorld", "GameWire",
            ]),
            "VoiceService": executables.union(["Harness", "Analysis", "Scenario"]),
        ]
    }()

    static func swiftFiles(of target: String) -> [URL] {
        let folder = sources.appendingPathComponent(target)
        let files =
            FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "swift" }
    }

    static func imports(of target: String) throws -> Set<String> {
        var found: Set<String> = []
        for file in swiftFiles(of: target) {
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count else { continue }
                guard
                    words[..<index].allSatisfy({ $0.hasPrefix("@") || ["internal", "public", "private"].contains($0) })
                else { continue }
                var module = words[index + 1]
                if ["struct", "class", "enum", "func", "protocol"].contains(module), index + 2 < words.count {
                    module = words[index + 2]
                }
                found.insert(String(module.split(separator: ".").first ?? ""))
            }
        }
        return found
    }

    @Test(arguments: forbidden.keys.sorted())
    func targetImportsNothingAboveIt(target: String) throws {
        #expect(!Self.swiftFiles(of: target).isEmpty, "no sources found for \(target)")
        let imported = try Self.imports(of: target)
        #expect(
            imported.isDisjoint(with: Self.forbidden[target]!),
            "\(target) imports \(imported.intersection(Self.forbidden[target]!).sorted())")
    }
}
