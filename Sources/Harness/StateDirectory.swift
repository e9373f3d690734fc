import Foundation

/// Where runs register themselves while they live, so `testbed clean` finds the leftovers of a
/// coordinator that was killed: `/run/seamless` as root, else `$XDG_RUNTIME_DIR/seamless` or
/// `/tmp/seamless-UID`; `SEAMLESS_STATE_DIR` overrides it (tests use their own).
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public static func standard() -> StateDirectory {
        let environment = ProcessInfo.processInfo.environment
        if let custom = environment["SEAMLESS_STATE_DIR"], !custom.isEmpty { return StateDirectory(path: custom) }
        if getuid() == 0 { return StateDirectory(path: "/run/seamless") }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            return StateDirectory(path: runtime + "/seamless")
        }
        return StateDirectory(path: "/tmp/seamless-\(getuid())")
    }

    /// Registered runs: one symlink per live run, named by run id, to its manifest.
    var runsPath: String { path + "/runs" }

    /// Creates the folder and its `runs/`, private to this user: each a real directory (a
    /// symlink is refused, not followed), owned by this user, mode 0700 (a wider one it owns is
    /// narrowed). A folder another user owns is refused: its manifests could name anything.
    func create() throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw HarnessError.file(path: parent, reason: "cannot create: \(error.localizedDescription)")
            }
        }
        try Self.makePrivateDirectory(path)
        try Self.makePrivateDirectory(runsPath)
    }

    static func makePrivateDirectory(_ directory: String) throws {
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw HarnessError.system(call: "mkdir \(directory)", errno: errno)
        }
        // Opened without following a symlink, then checked and narrowed through the descriptor:
        // nobody can swap the folder between the check and the chmod.
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw HarnessError.file(
                path: directory,
                reason: "not a directory (a symlink is not followed): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw HarnessError.system(call: "fstat \(directory)", errno: errno) }
        guard info.st_uid == geteuid() else {
            throw HarnessError.file(
                path: directory, reason: "owned by uid \(info.st_uid), not this user (\(geteuid()))")
        }
        if info.st_mode & 0o077 != 0, fchmod(descriptor, 0o700) != 0 {
            throw HarnessError.system(call: "chmod 0700 \(directory)", errno: errno)
        }
    }

    func register(runID: String, manifest: String) throws {
        let link = runsPath + "/" + runID
        guard symlink(manifest, link) == 0 else { throw HarnessError.system(call: "symlink \(link)", errno: errno) }
    }

    func unregister(runID: String) {
        unlink(runsPath + "/" + runID)
    }

    /// Manifests of registered runs, by run id.
    func registeredRuns() -> [(runID: String, manifest: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runsPath)) ?? []
        return names.sorted().compactMap { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: runsPath + "/" + name)).map { (name, $0) }
        }
    }
}

/// The address blocks runs take on this machine, one lock file per block. Addresses are a
/// machine-wide resource, so the locks live in one machine-wide folder whatever the state
/// folder is (tests use private state folders and still must not share addresses).
public struct NetworkBlocks: Sendable {
    public let directory: String

    public init(directory: String = "/tmp/seamless-networks") { self.directory = directory }

    /// Takes the lowest free block in `range` for this process: an exclusive `flock` on
    /// `<n>.lock`, which the kernel releases when the process ends however it ends, so blocks
    /// never leak.
    public func claim(in range: ClosedRange<Int>) throws -> NetworkBlock {
        if mkdir(directory, 0o1777) == 0 { chmod(directory, 0o1777) }
        // Shared by every user: a real directory, and sticky if others may write to it (nobody
        // can then replace another's lock file); never a symlink followed.
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR,
            info.st_mode & 0o002 == 0 || info.st_mode & S_ISVTX != 0
        else {
            throw HarnessError.file(
                path: directory, reason: "not a directory, or one anybody may write to without the sticky bit")
        }
        for block in range {
            // Read-only: flock needs no write access, so a lock file another user created works
            // too; a symlink planted in its place is not followed.
            let descriptor = open(directory + "/\(block).lock", O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw HarnessError.system(call: "open \(directory)/\(block).lock", errno: errno)
            }
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                return NetworkBlock(number: block, lockDescriptor: descriptor)
            }
            close(descriptor)
        }
        throw HarnessError.noFreeNetwork
    }
}

/// An address block held by this run (`127.<number>.0.0/16` on loopback).
public struct NetworkBlock: Sendable {
    public let number: Int
    let lockDescriptor: CInt

    /// Gives the block back.
    func release() { close(lockDescriptor) }
}
