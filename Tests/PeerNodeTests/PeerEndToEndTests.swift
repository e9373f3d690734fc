import ControlProtocol
import Foundation
import SeamlessTestKit
import Testing

/// The real `peer` executable over real pipes and sockets. It is started through a shell that
/// stays its parent, so the test thread's lifetime never triggers its parent-death signal.
@Suite(.timeLimit(.minutes(2))) struct PeerEndToEndTests {
    /// Starts `peer` under `bash`, which passes its stdin through and waits for it.
    static func startPeer(_ name: String = "peer-1", address: String) throws -> ChildProcess {
        try ChildProcess(
            "/bin/bash",
            ["-c", "\"$0\" --name \(name) --address \(address) <&0 & echo $! >&2; wait", product("peer")],
            stderrPath: temporaryDirectory("peer-log") + "/stderr")
    }

    static func event(_ line: String?) -> Event? {
        line.flatMap { try? EventLine(line: $0) }?.event
    }

    @Test func answersCommandsAndSurvivesMalformedLines() throws {
        let peer = try Self.startPeer(address: "127.200.0.1")
        guard case .ready(_, let address, let tcpPort, let udpPort)? = Self.event(peer.nextLine()) else {
            Issue.record("no ready event")
            return
        }
        #expect(address == "127.200.0.1")
        #expect(tcpPort > 0 && udpPort > 0)
        peer.write(
            "{\"command\":\"ping\",\"id\":1}\nthis is not json\n{\"command\":\"fly\"}\n\n{\"command\":\"ping\",\"id\":2}\n"
        )
        #expect(Self.event(peer.nextLine()) == .pong(id: 1))
        #expect(Self.event(peer.nextLine()) == .error(message: "malformed command line: not valid JSON"))
        #expect(Self.event(peer.nextLine()) == .error(message: "unknown command 'fly'"))
        #expect(Self.event(peer.nextLine()) == .pong(id: 2))
        peer.write("{\"command\":\"shutdown\"}\n")
        #expect(Self.event(peer.nextLine()) == .stopping(reason: "shutdown"))
        #expect(peer.waitForExit(within: .seconds(5)))
        #expect(peer.exitStatus == 0)
    }

    @Test func bindsItsOverlaySocketsOnItsOwnAddress() throws {
        let peer = try Self.startPeer(address: "127.200.0.2")
        guard case .ready(_, _, let tcpPort, _)? = Self.event(peer.nextLine()) else {
            Issue.record("no ready event")
            return
        }
        // A real TCP connection to the overlay port on the peer's address is accepted.
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = in_port_t(UInt16(tcpPort).bigEndian)
        inet_pton(AF_INET, "127.200.0.2", &target.sin_addr)
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(connected == 0)
        peer.closeInput()
        #expect(peer.waitForExit(within: .seconds(5)))
    }

    @Test func exitsWithinOneSecondOfStdinClosing() throws {
        let peer = try Self.startPeer(address: "127.200.0.3")
        guard case .ready(let pid, _, _, _)? = Self.event(peer.nextLine()) else {
            Issue.record("no ready event")
            return
        }
        peer.closeInput()
        #expect(eventually(within: .seconds(1)) { !processIsAlive(Int32(pid)) })
    }

    @Test func diesWithItsParentEvenWhileStdinStaysOpen() throws {
        let peer = try Self.startPeer(address: "127.200.0.4")
        guard case .ready(let pid, _, _, _)? = Self.event(peer.nextLine()) else {
            Issue.record("no ready event")
            return
        }
        // SIGKILL the parent shell; our end of the peer's stdin stays open, so only the
        // parent-death signal can end the peer.
        peer.signal(SIGKILL)
        #expect(peer.waitForExit(within: .seconds(5)))
        #expect(eventually(within: .seconds(2)) { !processIsAlive(Int32(pid)) })
    }

    @Test func reportsAnAddressItCannotBind() throws {
        // 10.255.255.254 is not an address of this machine; the peer must say so, not hang.
        let peer = try Self.startPeer(address: "10.255.255.254")
        guard case .error(let message)? = Self.event(peer.nextLine()) else {
            Issue.record("no error event")
            return
        }
        #expect(message.contains("cannot bind 10.255.255.254"))
        #expect(peer.waitForExit(within: .seconds(5)))
    }
}
