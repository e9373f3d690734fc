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

    /// Runs `peer` with `arguments` to its end: its exit status, stdout and stderr.
    static func runPeer(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: product("peer"))
        process.arguments = arguments
        let (output, errors) = (Pipe(), Pipe())
        process.standardInput = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, printed, said)
    }

    @Test func aBadCommandLineSaysWhatIsWrongAndStartsNothing() throws {
        let named = ["--name", "peer-1", "--address", "127.200.0.9"]
        let cases: [([String], String)] = [
            (["--name", "x", "--address", "127.0.0.1"], "--name must be peer-N, not 'x'"),
            (["--name", "peer-1"], "missing --address"),
            (named + ["--tcp-port", "70000"], "--tcp-port must be in 0...65535"),
            (named + ["--udp-port", "many"], "--udp-port takes a number, not 'many'"),
            (named + ["--stabilize-interval", "0"], "DHT intervals are seconds from 0.01 to 3600"),
            (named + ["--successors", "33"], "--successors must be from 1 to 32"),
            (named + ["--seed"], "--seed needs a value"),
            (named + ["--fly", "1"], "unknown option '--fly'"),
            (named + ["peer-2"], "unexpected argument 'peer-2'"),
            (named + ["--log-level", "loud"], "--log-level must be one of"),
        ]
        for (arguments, message) in cases {
            let (status, output, errors) = try Self.runPeer(arguments)
            #expect(status == 64, "\(arguments)")
            #expect(
                errors.hasPrefix("Error: ") && errors.contains(message) && errors.contains("USAGE: peer"), "\(errors)")
            #expect(output.isEmpty, "\(arguments) started: \(output)")
        }
        let help = try Self.runPeer(["--help"])
        #expect(help.status == 0 && help.output.hasPrefix("USAGE: peer") && help.errors.isEmpty)
    }

    @Test func everyOptionTheTestbedGivesIsTaken() throws {
        let options =
            "--tcp-port 0 --udp-port 0 --stabilize-interval 0.5 --fix-fingers-interval 0.25 "
            + "--check-predecessor-interval 1 --replicate-interval 2 --request-timeout 1.5 --successors 4 --seed 9 "
            + "--log-level debug --coordinator-pid $$"
        let peer = try ChildProcess(
            "/bin/bash",
            ["-c", "\"$0\" --name peer-3 --address 127.200.0.3 \(options) <&0 & echo $! >&2; wait", product("peer")],
            stderrPath: temporaryDirectory("peer-log") + "/stderr")
        guard case .ready(_, let address, _, _)? = Self.event(peer.nextLine()) else {
            Issue.record("no ready event")
            return
        }
        #expect(address == "127.200.0.3")
        peer.write("{\"command\":\"shutdown\"}\n")
        #expect(Self.event(peer.nextLine()) == .stopping(reason: "shutdown"))
        #expect(peer.waitForExit(within: .seconds(5)))
        #expect(peer.exitStatus == 0)
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

    /// The events `peer` writes until one matches (nil if none does within 10 s a line).
    static func events(of peer: ChildProcess, until condition: (Event) -> Bool) -> [Event] {
        var seen: [Event] = []
        while let event = event(peer.nextLine()) {
            seen.append(event)
            if condition(event) { break }
        }
        return seen
    }

    @Test func sentSIGTERMAPeerHandsItsServiceToAnotherBeforeItGoes() throws {
        let host = try Self.startPeer("peer-11", address: "127.200.0.11")
        let other = try Self.startPeer("peer-12", address: "127.200.0.12")
        guard case .ready(let pid, let address, let port, _)? = Self.event(host.nextLine()),
            case .ready? = Self.event(other.nextLine())
        else {
            Issue.record("no ready event")
            return
        }
        host.write("{\"command\":\"join\",\"bootstrap\":null}\n")
        other.write("{\"command\":\"join\",\"bootstrap\":\"\(address):\(port)\"}\n")
        #expect(!Self.events(of: other) { if case .dhtJoined = $0 { true } else { false } }.isEmpty)
        host.write("{\"command\":\"deploy\",\"service\":\"arena\",\"kind\":\"game\"}\n")
        let deployed = Self.events(of: host) { if case .deployed = $0 { true } else { false } }
        #expect(deployed.contains { if case .deployed("arena", "game", _, _) = $0 { true } else { false } })
        // The host knows peer-12 once its stabilization has run (every second by default).
        Thread.sleep(forTimeInterval: 2.5)
        kill(Int32(pid), SIGTERM)
        let said = Self.events(of: host) { if case .handover = $0 { true } else { false } }
        #expect(said.contains(.stopping(reason: "signal")), "\(said)")
        guard case .handover("arena", let migration, "peer-12", "moved", "")? = said.last else {
            Issue.record("no handover to peer-12: \(said)")
            return
        }
        #expect(
            said.contains(
                .migrationPhase(
                    migration: migration, service: "arena", from: "peer-11", to: "peer-12", phase: "release"))
        )
        #expect(host.waitForExit(within: .seconds(5)))
        // peer-12 serves the world now.
        let taken = Self.events(of: other) {
            $0
                == .migrationPhase(
                    migration: migration, service: "arena", from: "peer-11", to: "peer-12", phase: "takeover")
        }
        #expect(
            taken.last
                == .migrationPhase(
                    migration: migration, service: "arena", from: "peer-11", to: "peer-12", phase: "takeover"))
        other.write("{\"command\":\"shutdown\"}\n")
        #expect(other.waitForExit(within: .seconds(5)))
    }
}
