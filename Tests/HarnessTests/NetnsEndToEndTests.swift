import ControlProtocol
import Foundation
import LinkEmulation
import Scenario
import SeamlessTestKit
import Testing

@testable import Harness

/// Peers in network namespaces behind the link emulator, measured with ping (a tool that is
/// not ours). Root only.
@Suite(
    .enabled(if: getuid() == 0 && access("/usr/bin/ping", X_OK) == 0, "needs root and ping"), .timeLimit(.minutes(2)))
struct NetnsEndToEndTests {
    static let profiles: ProfileCatalogue = {
        var catalogue = ProfileCatalogue(folders: ["test"])
        catalogue.add(NamedProfile(name: "fast", profile: .zero), file: "test/fast.yaml")
        catalogue.add(
            NamedProfile(name: "slow", profile: LinkProfile(delay: .milliseconds(30))), file: "test/slow.yaml")
        return catalogue
    }()

    static let scenario = """
        name: e2e-netns
        mode: netns
        peers: {count: 2, profile: fast}
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: ready
          - at: 3s
            link: {peer: peer-2, profile: slow, direction: down}
          - at: 6s
            partition: [[peer-1], [peer-2]]
          - at: 8s
            heal:
          - at: 9s
            stop:
        """

    /// Pings `address` from inside `namespace`: (received, average round trip in ms).
    static func ping(from namespace: String, to address: String, count: Int) async throws -> (Int, Double?) {
        let ping = try ChildProcess(
            Command.ip, ["netns", "exec", namespace, "ping", "-n", "-c", "\(count)", "-i", "0.01", "-W", "1", address])
        #expect(await ping.waitForExit(within: .seconds(20)))
        var received = 0
        var average: Double?
        while let line = ping.nextLine(within: .milliseconds(100)) {
            if line.contains("packets transmitted") {
                received = Int(line.split(separator: ",")[1].split(separator: " ")[0]) ?? 0
            }
            if line.hasPrefix("rtt") { average = Double(line.split(separator: "=")[1].split(separator: "/")[1]) }
        }
        return (received, average)
    }

    @Test func pingSeesTheProfilesDelayLinkChangesAndPartitions() async throws {
        let folder = temporaryDirectory("e2e-netns")
        var options = TestbedRunEndToEndTests.options(folder)
        options.profiles = Self.profiles
        async let run = TestbedRun.execute(
            try Scenario.parse(Self.scenario, file: "n.yaml", profiles: Self.profiles), source: Self.scenario,
            options: options)

        #expect(
            await RunEvents(out: folder + "/Captures").waitFor {
                if case .ready = $0.event { $0.peer == "peer-2" } else { false }
            })
        let namespaces = try RunManifest.read(path: folder + "/Captures/latest/manifest.jsonl").compactMap {
            entry -> String? in
            if case .namespace(let name) = entry { name } else { nil }
        }
        #expect(namespaces.count == 2)
        let target = try #require(await RunEvents(out: folder + "/Captures").readyAddress(of: "peer-2"))

        // Before the link change: no delay.
        let (fastReceived, fastRTT) = try await Self.ping(from: namespaces[0], to: target, count: 10)
        #expect(fastReceived == 10)
        #expect((fastRTT ?? 99) < 5)

        // After it: 30 ms on peer-2's downlink, so about 30 ms round trip.
        #expect(
            await RunEvents(out: folder + "/Captures").waitFor {
                $0.event == .linkChanged(profile: "slow", direction: "down")
            })
        let (slowReceived, slowRTT) = try await Self.ping(from: namespaces[0], to: target, count: 10)
        #expect(slowReceived == 10)
        #expect(abs((slowRTT ?? 0) - 30) < 3)

        // During the partition nothing gets through.
        #expect(
            await RunEvents(out: folder + "/Captures").waitFor {
                if case .partitioned = $0.event { true } else { false }
            })
        let (cutReceived, _) = try await Self.ping(from: namespaces[0], to: target, count: 5)
        #expect(cutReceived == 0)

        let result = try await run
        #expect(result.report.run.outcome == "completed", "\(result.report.text())")
        #expect(result.report.peers.stopped == 2)
        let peer1Up = try #require(result.report.links.first { $0.peer == "peer-1" && $0.direction == "up" })
        #expect(peer1Up.partitioned >= 5)
        #expect(peer1Up.delivered >= 20)
        #expect((result.report.capture?.packets ?? 0) >= 40)
        #expect(result.report.capture?.linkType == "raw IP")
        // Every namespace was removed (the names may be reused by a later run at once, so the
        // evidence is the run's own manifest).
        let removed = try RunManifest.read(path: result.folder.manifest).compactMap { entry -> String? in
            if case .namespaceRemoved(let name) = entry { name } else { nil }
        }
        #expect(Set(removed) == Set(namespaces))
    }

    @Test func aKilledCoordinatorsNamespacesAreRemovedByClean() async throws {
        let folder = temporaryDirectory("e2e-netns-kill")
        try FileManager.default.createDirectory(atPath: folder + "/scenarios", withIntermediateDirectories: true)
        let scenario = folder + "/scenarios/long.yaml"
        try """
        name: e2e-netns-long
        mode: netns
        peers: 2
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: ready
          - at: 60s
            stop:
        """.write(toFile: scenario, atomically: true, encoding: .utf8)
        let testbed = try ChildProcess(
            product("testbed"), ["run", scenario, "--out", folder + "/Captures", "--quiet"],
            environment: ["SEAMLESS_STATE_DIR": folder + "/state"], stderrPath: folder + "/stderr")
        #expect(
            await RunEvents(out: folder + "/Captures").waitFor {
                if case .ready = $0.event { $0.peer == "peer-2" } else { false }
            })
        let namespaces = try RunManifest.read(path: folder + "/Captures/latest/manifest.jsonl").compactMap {
            entry -> String? in if case .namespace(let name) = entry { name } else { nil }
        }
        #expect(namespaces.count == 2)
        testbed.signal(SIGKILL)
        #expect(await testbed.waitForExit(within: .seconds(5)))
        #expect(try Command.run(Command.ip, ["netns", "list"]).contains(namespaces[0]))  // still there

        let clean = try ChildProcess(
            product("testbed"), ["clean"], environment: ["SEAMLESS_STATE_DIR": folder + "/state"])
        #expect(await clean.waitForExit(within: .seconds(20)))
        #expect(clean.exitStatus == 0)
        // clean's own report is the evidence that it removed them.
        var said: [String] = []
        while let line = clean.nextLine(within: .milliseconds(200)) { said.append(line) }
        for name in namespaces { #expect(said.contains { $0.hasSuffix("removed namespace \(name)") }, "\(said)") }
    }
}

/// TCP and UDP between two peers' namespaces through `lan`- and `lossy`-like links, and an
/// interrupted run that still removes everything.
@Suite(.enabled(if: getuid() == 0, "needs root"), .timeLimit(.minutes(2)))
struct NetnsTrafficTests {
    static func scenario(profile: String) -> String {
        """
        name: e2e-traffic
        mode: netns
        peers: {count: 2, profile: \(profile)}
        timeline:
          - at: 0s
            spawn: all
          - at: 0s
            wait: ready
          - at: 12s
            stop:
        """
    }

    @Test(arguments: [
        ("lan", LinkProfile(delay: .microseconds(200))),
        ("lossy", LinkProfile(delay: .milliseconds(5), loss: .independent(0.02))),
    ])
    func tcpConnectsAndUDPArrivesThroughTheLink(name: String, profile: LinkProfile) async throws {
        let folder = temporaryDirectory("e2e-traffic")
        var options = TestbedRunEndToEndTests.options(folder)
        var catalogue = ProfileCatalogue(folders: ["test"])
        catalogue.add(NamedProfile(name: name, profile: profile), file: "test/\(name).yaml")
        options.profiles = catalogue
        async let run = TestbedRun.execute(
            try Scenario.parse(Self.scenario(profile: name), file: "t.yaml", profiles: catalogue),
            source: Self.scenario(profile: name), options: options)
        #expect(
            await RunEvents(out: folder + "/Captures").waitFor {
                if case .ready = $0.event { $0.peer == "peer-2" } else { false }
            })
        let namespaces = try RunManifest.read(path: folder + "/Captures/latest/manifest.jsonl").compactMap {
            entry -> String? in if case .namespace(let name) = entry { name } else { nil }
        }
        let target = try #require(await RunEvents(out: folder + "/Captures").readyAddress(of: "peer-2"))
        // TCP: a connection to peer-2's overlay port completes its handshake through the link
        // (retransmissions cover losses), and 300 UDP datagrams go to its overlay port.
        let tcp = try ChildProcess(
            Command.ip,
            ["netns", "exec", namespaces[0], "bash", "-c", "exec 3<>/dev/tcp/\(target)/7000 && echo connected"])
        #expect(await tcp.waitForExit(within: .seconds(10)))
        #expect(tcp.nextLine(within: .milliseconds(100)) == "connected")
        let udp = try ChildProcess(
            Command.ip,
            [
                "netns", "exec", namespaces[0], "bash", "-c",
                "for i in $(seq 300); do echo $i > /dev/udp/\(target)/7000; done",
            ])
        #expect(await udp.waitForExit(within: .seconds(20)))
        // ping (not ours) measures the loss: a round trip crosses four links of the profile.
        let (received, _) = try await NetnsEndToEndTests.ping(from: namespaces[0], to: target, count: 200)
        if case .independent(let p) = profile.loss {
            let expected = 200 * (1 - (1 - p) * (1 - p) * (1 - p) * (1 - p))
            let sigma = (expected * (1 - expected / 200)).squareRoot()
            #expect(
                abs(Double(200 - received) - expected) < 2.576 * sigma, "lost \(200 - received), expected \(expected)")
        } else {
            #expect(received == 200)
        }

        let report = try await run.report
        let up = try #require(report.links.first { $0.peer == "peer-1" && $0.direction == "up" })
        #expect(up.delivered + up.lost == up.packets - up.unrouted)
        if profile.loss == .none {
            #expect(up.lost == 0)
        } else {
            // 2 % of a few hundred packets: at least one lost is near certain (p < 0.3 %).
            #expect(up.lost >= 1)
            #expect(Double(up.lost) < 0.1 * Double(up.packets))
        }
        let udpReceived = report.bandwidth?.hosts.first { $0.name == "peer-2" }?.receivedBytes ?? 0
        #expect(udpReceived > 0)
        // drops.pcap holds every packet the links delivered to nobody, as their counters say.
        let dropped = report.links.reduce(0) { $0 + $1.lost + $1.queueDrops + $1.tooBig + $1.partitioned + $1.unrouted }
        #expect(report.capture?.networkDrops == dropped)
    }

    @Test func anInterruptedNetnsRunRemovesItsNamespaces() async throws {
        let folder = temporaryDirectory("e2e-netns-int")
        let scenario = folder + "/long.yaml"
        try Self.scenario(profile: "x").replacingOccurrences(of: "{count: 2, profile: x}", with: "2")
            .replacingOccurrences(of: "at: 12s", with: "at: 60s").write(
                toFile: scenario, atomically: true, encoding: .utf8)
        let testbed = try ChildProcess(
            product("testbed"), ["run", scenario, "--out", folder + "/Captures", "--quiet"],
            environment: ["SEAMLESS_STATE_DIR": folder + "/state"], stderrPath: folder + "/stderr")
        #expect(
            await RunEvents(out: folder + "/Captures").waitFor {
                if case .ready = $0.event { $0.peer == "peer-2" } else { false }
            })
        let namespaces = try RunManifest.read(path: folder + "/Captures/latest/manifest.jsonl").compactMap {
            entry -> String? in if case .namespace(let name) = entry { name } else { nil }
        }
        testbed.signal(SIGINT)
        #expect(await testbed.waitForExit(within: .seconds(20)))
        #expect(testbed.exitStatus == 130)
        let removed = try RunManifest.read(path: folder + "/Captures/latest/manifest.jsonl").compactMap {
            entry -> String? in if case .namespaceRemoved(let name) = entry { name } else { nil }
        }
        #expect(Set(removed) == Set(namespaces))
        #expect(try RunManifest.read(path: folder + "/Captures/latest/manifest.jsonl").last == .closed)
    }
}
