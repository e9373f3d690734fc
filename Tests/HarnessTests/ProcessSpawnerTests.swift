import Foundation
import SeamlessTestKit
import Testing

@testable import Harness

/// What a spawned peer inherits: its three standard descriptors, nothing more. SwiftNIO's and
/// libpcap's sockets are not close-on-exec, and a peer holding a copy of one kept it open after
/// the coordinator closed it (a relay test saw its clients never leave while another test was
/// spawning peers in the same process).
struct ProcessSpawnerTests {
    @Test func aSpawnedProcessHoldsOnlyItsStandardDescriptors() async throws {
        // A socket without close-on-exec, as NIO makes them.
        let socket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(socket >= 0)
        #expect(fcntl(socket, F_GETFD) & FD_CLOEXEC == 0)
        defer { close(socket) }
        let spawner = ProcessSpawner()
        let folder = temporaryDirectory("spawner")
        let started = try await spawner.spawn(executable: "/bin/sleep", arguments: ["5"], logPath: folder + "/log")
        // The dynamic loader holds each library open while it maps it (descriptor 3, for a
        // moment): the child is given time to settle. An inherited descriptor never goes away.
        let descriptors = {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(started.pid)/fd"))?.sorted()
        }
        let settled = await eventually(within: .seconds(2)) { descriptors() == ["0", "1", "2"] }
        #expect(settled, "the child holds \(descriptors() ?? [])")
        kill(started.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(started.pid, &status, 0)
        close(started.commandWriter)
        close(started.eventReader)
        try await spawner.shutdown()
    }
}
