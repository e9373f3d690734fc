import Foundation
import Scenario

/// Reads a scenario file and the link profiles it may name, and validates it: what
/// `testbed validate` and `testbed run` start with. Profiles are looked for in this order, the
/// first folder that has a name winning:
/// 1. `profiles/` beside the scenario's folder (`Testbed/profiles/` for
///    `Testbed/scenarios/x.yaml`, `~/profiles/` for `~/exp/x.yaml`);
/// 2. the project's `Testbed/profiles/` (in the folder testbed runs in, else in the checkout
///    the testbed executable was built in);
/// 3. every folder given with `--profiles DIR`, in order.
/// A profile name the scenario uses that none of them has is a validation error.
public enum ScenarioLoader {
    /// A scenario as read: its validated value, its text (copied into the run folder) and the
    /// profiles found for it.
    public struct Loaded: Sendable {
        public var scenario: Scenario
        public var source: String
        public var profiles: ProfileCatalogue
    }

    /// Reads, checks and validates the scenario at `path`.
    public static func load(
        _ path: String, profileFolders extra: [String] = [], project: String? = projectRoot()
    ) throws(Diagnostics) -> Loaded {
        let source = try text(of: path)
        let profiles = try profileCatalogue(
            folders: profileFolders(scenario: path, project: project, extra: extra))
        let scenario = try Scenario.parse(source, file: path, profiles: profiles)
        // Files a client reads (audio it speaks) are read by its peer, relative to the directory
        // testbed runs in.
        let missing = scenario.steps.flatMap { step -> [Diagnostic] in
            guard case .clients(let spec) = step.action else { return [] }
            return (ServiceKinds.clientParameters[spec.kind] ?? []).compactMap { parameter in
                guard case .file = parameter.syntax, case .text(let path)? = spec.parameters[parameter.name],
                    !FileManager.default.fileExists(atPath: path)
                else { return nil }
                return Diagnostic(
                    "no file '\(path)' (paths are relative to the directory testbed runs in, the repository root)",
                    at: step.position)
            }
        }
        guard missing.isEmpty else { throw Diagnostics(missing) }
        return Loaded(scenario: scenario, source: source, profiles: profiles)
    }

    /// The folders profiles are looked for in, in search order, each once.
    public static func profileFolders(scenario: String, project: String?, extra: [String]) -> [String] {
        let scenarioFolder = URL(fileURLWithPath: scenario).deletingLastPathComponent()
        let beside = scenarioFolder.deletingLastPathComponent().appendingPathComponent("profiles").path
        let candidates = [beside] + (project.map { [$0 + "/Testbed/profiles"] } ?? []) + extra
        var seen: Set<String> = []
        return candidates.filter { folder in
            let resolved = URL(fileURLWithPath: folder).resolvingSymlinksInPath().standardizedFileURL.path
            return seen.insert(resolved).inserted
        }
    }

    /// The project a testbed belongs to: the folder it runs in when that has
    /// `Testbed/profiles`, else the nearest folder above the executable that has it.
    public static func projectRoot() -> String? {
        let manager = FileManager.default
        if manager.fileExists(atPath: "Testbed/profiles") { return manager.currentDirectoryPath }
        let executable = (try? manager.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<6 {
            if manager.fileExists(atPath: folder.appendingPathComponent("Testbed/profiles").path) { return folder.path }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }

    /// Every profile in `folders` that exist; a folder that does not exist is skipped, a bad
    /// profile file is an error with its position, and so are two files of one folder
    /// giving the same name.
    public static func profileCatalogue(folders: [String]) throws(Diagnostics) -> ProfileCatalogue {
        var catalogue = ProfileCatalogue(folders: folders)
        var problems: [Diagnostic] = []
        for folder in folders {
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder) else { continue }
            var inThisFolder: [String: String] = [:]
            for file in files.sorted() where file.hasSuffix(".yaml") {
                let path = (folder as NSString).appendingPathComponent(file)
                do throws(Diagnostics) {
                    let named = try NamedProfile.parse(try text(of: path), file: path)
                    if let first = inThisFolder[named.name] {
                        problems.append(
                            Diagnostic(
                                "profile '\(named.name)' is also defined in \(first)",
                                at: SourcePosition(file: path, line: 1, column: 1)))
                        continue
                    }
                    inThisFolder[named.name] = path
                    catalogue.add(named, file: path)
                } catch {
                    problems += error.items
                }
            }
        }
        guard problems.isEmpty else { throw Diagnostics(problems) }
        return catalogue
    }

    /// A file's text: UTF-8, or a diagnostic at the first byte that is not.
    static func text(of path: String) throws(Diagnostics) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read it" : "no such file"
            throw Diagnostics([Diagnostic(reason, at: SourcePosition(file: path, line: 1, column: 1))])
        }
        return try YAMLSource.text([UInt8](data), file: path)
    }
}
