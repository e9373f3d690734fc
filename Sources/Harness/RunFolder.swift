import Foundation

/// The folder one run writes everything into: `<root>/<scenario>-<UTC time>/` with
/// `scenario.yaml`, `manifest.jsonl`, `events.jsonl`, `peers/<peer>.log` and the reports; and
/// `<root>/latest`, a symlink to the newest run.
public struct RunFolder: Sendable {
    public let path: String
    /// The run's id: the folder's name.
    public let runID: String

    public var scenarioCopy: String { path + "/scenario.yaml" }
    public var manifest: String { path + "/manifest.jsonl" }
    public var events: String { path + "/events.jsonl" }
    public var capture: String { path + "/capture.pcap" }
    /// The packets the emulated links delivered to nobody (netns mode), stamped when dropped.
    public var drops: String { path + "/drops.pcap" }
    public var reportText: String { path + "/report.txt" }
    public var reportJSON: String { path + "/report.json" }
    public var reportHTML: String { path + "/report.html" }
    public func peerLog(_ peer: String) -> String { path + "/peers/\(peer).log" }
    /// What voice clients heard: `audio/<receiver>-from-<ssrc>.wav`.
    public var audio: String { path + "/audio" }

    public init(existing path: String) {
        self.path = path
        runID = (path as NSString).lastPathComponent
    }

    /// Creates a new, uniquely named run folder under `root`, readable by its owner only (mode
    /// 0700: its capture holds every packet of the run) unless `shared` (0755).
    static func create(root: String, scenario: String, shared: Bool = false, now: Date = Date()) throws -> RunFolder {
        let mode: mode_t = shared ? 0o755 : 0o700
        var time = tm()
        var seconds = time_t(now.timeIntervalSince1970)
        gmtime_r(&seconds, &time)
        let stamp = String(
            format: "%04d%02d%02dT%02d%02d%02dZ", time.tm_year + 1900, time.tm_mon + 1, time.tm_mday, time.tm_hour,
            time.tm_min, time.tm_sec)
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw HarnessError.file(path: root, reason: "cannot create: \(error.localizedDescription)")
        }
        var name = "\(scenario)-\(stamp)"
        var attempt = 1
        // mkdir is atomic: two runs started in the same second get different folders.
        while mkdir(root + "/" + name, mode) != 0 {
            guard errno == EEXIST, attempt < 100 else {
                throw HarnessError.system(call: "mkdir \(root)/\(name)", errno: errno)
            }
            attempt += 1
            name = "\(scenario)-\(stamp)-\(attempt)"
        }
        let folder = RunFolder(existing: root + "/" + name)
        for sub in ["peers", "audio"] {
            guard mkdir(folder.path + "/" + sub, mode) == 0 else {
                throw HarnessError.system(call: "mkdir \(folder.path)/\(sub)", errno: errno)
            }
        }
        return folder
    }

    /// Points `<root>/latest` at this folder, atomically (a new link renamed over the old).
    func markLatest() {
        let root = (path as NSString).deletingLastPathComponent
        let temporary = root + "/.latest-\(getpid())"
        unlink(temporary)
        if symlink(runID, temporary) == 0 { rename(temporary, root + "/latest") }
    }
}
