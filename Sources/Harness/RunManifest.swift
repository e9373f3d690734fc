import ControlProtocol
import Foundation

/// The run's record of everything it creates, written *before* each thing is created and
/// appended to (`manifest.jsonl` in the run folder, one JSON object per line), so a crash at
/// any instant leaves a manifest that names every leftover. `testbed clean` reads it and
/// removes exactly what it lists; nothing is ever removed by a name pattern.
public actor RunManifest {
    public nonisolated let path: String
    private let descriptor: CInt

    /// One line of the manifest.
    public enum Entry: Sendable, Equatable {
        /// The run itself: its id, folder and coordinator (pid + start ticks name it for good).
        case run(id: String, folder: String, coordinatorPid: Int32, coordinatorStart: Int64)
        /// A peer process is about to be started.
        case spawning(peer: String)
        /// A peer process was started.
        case process(peer: String, pid: Int32, start: Int64)
        /// A peer process has ended and was reaped.
        case processEnded(peer: String, pid: Int32)
        /// A network namespace is about to be created.
        case namespace(name: String)
        /// A network namespace was removed.
        case namespaceRemoved(name: String)
        /// The run removed everything it created.
        case closed

        var json: JSONValue {
            switch self {
            case .run(let id, let folder, let pid, let start):
                .object([
                    "kind": .string("run"), "id": .string(id), "folder": .string(folder),
                    "coordinatorPid": .number(Double(pid)), "coordinatorStart": .number(Double(start)),
                ])
            case .spawning(let peer): .object(["kind": .string("spawning"), "peer": .string(peer)])
            case .process(let peer, let pid, let start):
                .object([
                    "kind": .string("process"), "peer": .string(peer), "pid": .number(Double(pid)),
                    "start": .number(Double(start)),
                ])
            case .processEnded(let peer, let pid):
                .object(["kind": .string("process-ended"), "peer": .string(peer), "pid": .number(Double(pid))])
            case .namespace(let name): .object(["kind": .string("netns"), "name": .string(name)])
            case .namespaceRemoved(let name): .object(["kind": .string("netns-removed"), "name": .string(name)])
            case .closed: .object(["kind": .string("closed")])
            }
        }

        init?(json: JSONValue) {
            func int(_ key: String) -> Int64? { json[key]?.double.flatMap { Int64(exactly: $0) } }
            switch json["kind"]?.string {
            case "run":
                guard let id = json["id"]?.string, let folder = json["folder"]?.string, let pid = int("coordinatorPid"),
                    let start = int("coordinatorStart")
                else { return nil }
                self = .run(id: id, folder: folder, coordinatorPid: Int32(pid), coordinatorStart: start)
            case "spawning":
                guard let peer = json["peer"]?.string else { return nil }
                self = .spawning(peer: peer)
            case "process":
                guard let peer = json["peer"]?.string, let pid = int("pid"), let start = int("start") else {
                    return nil
                }
                self = .process(peer: peer, pid: Int32(pid), start: start)
            case "process-ended":
                guard let peer = json["peer"]?.string, let pid = int("pid") else { return nil }
                self = .processEnded(peer: peer, pid: Int32(pid))
            case "netns":
                guard let name = json["name"]?.string else { return nil }
                self = .namespace(name: name)
            case "netns-removed":
                guard let name = json["name"]?.string else { return nil }
                self = .namespaceRemoved(name: name)
            case "closed": self = .closed
            default: return nil
            }
        }
    }

    public init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw HarnessError.system(call: "open \(path)", errno: errno) }
    }

    deinit { close(descriptor) }

    /// Appends one entry before returning. Once `write` returns, the entry outlives a
    /// coordinator killed right after (the kernel holds the page); only a machine crash could
    /// lose it, and that leaves no process or namespace behind to clean. So no fsync: it
    /// would cost milliseconds per spawned peer.
    public func record(_ entry: Entry) throws {
        let line = entry.json.serialized + "\n"
        let written = line.withCString { write(descriptor, $0, strlen($0)) }
        guard written == line.utf8.count else { throw HarnessError.system(call: "write \(path)", errno: errno) }
    }

    /// Reads a manifest; unreadable lines are skipped (a crash can cut the last one short).
    public static func read(path: String) throws -> [Entry] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw HarnessError.file(path: path, reason: "cannot read manifest: \(error.localizedDescription)")
        }
        return text.split(separator: "\n").compactMap { line in
            (try? JSONValue.parse(line)).flatMap(Entry.init(json:))
        }
    }
}

extension [RunManifest.Entry] {
    /// The run's coordinator, as its first entry names it.
    var coordinatorPid: Int32? {
        guard case .run(_, _, let pid, _)? = first else { return nil }
        return pid
    }
}
