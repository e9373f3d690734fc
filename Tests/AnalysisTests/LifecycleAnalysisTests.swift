import ControlProtocol
import Testing

@testable import Analysis

/// The report's lifecycle figures from crafted event sequences with known answers.
@Suite struct LifecycleAnalysisTests {
    static let t0: Int64 = 1_764_000_000_000_000

    static func at(_ milliseconds: Int64, _ peer: String, _ event: Event) -> EventLine {
        EventLine(t: Timestamp(microseconds: t0 + milliseconds * 1000), peer: peer, event: event)
    }

    static let run: [EventLine] = [
        at(0, "testbed", .runStarted(scenario: "smoke", seed: 7, mode: "loopback", plannedSeconds: 10)),
        at(0, "testbed", .step(index: 0, action: "spawn all", cpuSeconds: 0.0)),
        at(1, "peer-1", .spawned(pid: 101, address: "127.100.0.1")),
        at(2, "peer-2", .spawned(pid: 102, address: "127.100.0.2")),
        at(3, "peer-3", .spawned(pid: 103, address: "127.100.0.3")),
        at(41, "peer-1", .ready(pid: 101, address: "127.100.0.1", tcpPort: 7000, udpPort: 7000)),
        at(52, "peer-3", .ready(pid: 103, address: "127.100.0.3", tcpPort: 7000, udpPort: 7000)),
        at(80, "peer-2", .ready(pid: 102, address: "127.100.0.2", tcpPort: 7000, udpPort: 7000)),
        at(2000, "testbed", .step(index: 1, action: "spawn peer-4", cpuSeconds: 0.1)),
        at(2001, "peer-4", .spawned(pid: 104, address: "127.100.0.4")),
        at(2900, "peer-4", .ready(pid: 104, address: "127.100.0.4", tcpPort: 7000, udpPort: 7000)),
        at(3000, "testbed", .step(index: 2, action: "crash peer-2", cpuSeconds: 0.2)),
        at(3000, "peer-2", .crashSent),
        at(3001, "peer-2", .exited(status: nil, signal: 9, cause: "crashed", maxRssKB: 10_240, pssKB: nil)),
        at(4000, "peer-3", .leaveSent),
        at(4010, "peer-3", .exited(status: 0, signal: nil, cause: "left", maxRssKB: 12_288, pssKB: nil)),
        at(4500, "peer-1", .error(message: "unknown command 'fly'")),
        at(
            9000, "peer-1",
            .exited(status: 0, signal: nil, cause: "stopped", maxRssKB: 14_336, pssKB: 3_072, cpuMs: 900)),
        at(
            9001, "peer-4", .exited(status: nil, signal: 9, cause: "killed", maxRssKB: 11_264, pssKB: 4_096, cpuMs: 350)
        ),
        at(9002, "testbed", .runEnded(reason: "completed", elapsedSeconds: 9.0, cpuSeconds: 0.5)),
    ]

    /// Start-up is timed from the first step that spawns peers, whatever the step is called.
    @Test func startupIsTimedFromTheFirstStepThatSpawnsPeers() {
        let report = RunReport(events: [
            Self.at(0, "testbed", .step(index: 0, action: "wait until ready", cpuSeconds: 0)),
            Self.at(500, "testbed", .step(index: 1, action: "churn for 60s", cpuSeconds: 0)),
            Self.at(510, "peer-7", .spawned(pid: 107, address: "127.100.0.7")),
            Self.at(530, "peer-7", .ready(pid: 107, address: "127.100.0.7", tcpPort: 7000, udpPort: 7000)),
            Self.at(900, "testbed", .step(index: 2, action: "spawn peer-8", cpuSeconds: 0)),
            Self.at(901, "peer-8", .spawned(pid: 108, address: "127.100.0.8")),
        ])
        #expect(report.startup.peers == 1 && report.startup.ready == 1)
        #expect(report.startup.allReadyMs == 30)
    }

    /// The peers' CPU time, summed, and each one's share of a core over its uptime; unknown
    /// (nil) where no exit said.
    @Test func sumsThePeersCPUTimeAndTheirShareOfACore() throws {
        let report = RunReport(events: Self.run)
        #expect(report.peers.cpuSeconds == 1.25)
        // peer-1: 0.9 s in 8.999 s, peer-4: 0.35 s in 7 s.
        let mean = try #require(report.peers.meanCpuPercent)
        let expected: Double = (90 / 8.999 + 5) / 2
        #expect(abs(mean - expected) < 1e-9)
        #expect(report.peers.list.first { $0.name == "peer-2" }?.cpuSeconds == nil)
        #expect(RunReport(events: Array(Self.run.prefix(8))).peers.cpuSeconds == nil)
    }

    @Test func countsEveryWayAPeerEnded() {
        let report = RunReport(events: Self.run)
        #expect(report.peers.spawned == 4)
        #expect(report.peers.crashed == 1)
        #expect(report.peers.left == 1)
        #expect(report.peers.stopped == 1)
        #expect(report.peers.killed == 1)
        #expect(report.peers.failed == 0)
        #expect(report.run.outcome == "completed")
        #expect(report.run.peerErrors == 1)
        #expect(report.run.scenario == "smoke")
    }

    @Test func startupCountsOnlyTheFirstSpawnStep() {
        // peer-4's slow start (899 ms) belongs to a later step; the first step's last peer was
        // ready 80 ms after the step began.
        let report = RunReport(events: Self.run)
        #expect(report.startup.peers == 3)
        #expect(report.startup.ready == 3)
        #expect(abs((report.startup.allReadyMs ?? -1) - 80) < 0.001)
    }

    /// A peer that starts fast reports ready before the coordinator stamped its spawn (seen
    /// with 1,000 peers): it is ready, at once.
    @Test func aPeerReadyBeforeItsSpawnWasStampedIsReadyAtOnce() {
        let report = RunReport(events: [
            Self.at(0, "testbed", .step(index: 0, action: "spawn all", cpuSeconds: 0)),
            Self.at(10, "peer-1", .spawned(pid: 101, address: "127.100.0.1")),
            Self.at(19, "peer-2", .ready(pid: 102, address: "127.100.0.2", tcpPort: 7000, udpPort: 7000)),
            Self.at(20, "peer-2", .spawned(pid: 102, address: "127.100.0.2")),
            Self.at(25, "peer-1", .ready(pid: 101, address: "127.100.0.1", tcpPort: 7000, udpPort: 7000)),
        ])
        #expect(report.startup.peers == 2 && report.startup.ready == 2)
        #expect(report.startup.allReadyMs == 25)
        #expect(report.peers.list.map(\.readyMs) == [15, 0])
    }

    @Test func startupHasNoFigureWhenAPeerNeverBecameReady() {
        let withoutReady = Self.run.filter {
            !($0.peer == "peer-2" && { if case .ready = $0.event { true } else { false } }($0))
        }
        let report = RunReport(events: withoutReady)
        #expect(report.startup.allReadyMs == nil)
        #expect(report.startup.ready == 2)
    }

    @Test func memoryAndUptimePerPeer() throws {
        let report = RunReport(events: Self.run.shuffled())  // order of lines must not matter
        #expect(report.peers.maxRssMB == 14)
        #expect(abs(report.peers.meanRssMB - 11.75) < 1e-9)
        #expect(report.peers.meanPssMB == 3.5)
        #expect(report.peers.maxPssMB == 4)
        let peer3 = try #require(report.peers.list.first { $0.name == "peer-3" })
        #expect(peer3.end == "left")
        #expect(abs((peer3.uptimeSeconds ?? 0) - 4.007) < 1e-6)
        #expect(abs((peer3.readyMs ?? 0) - 49) < 1e-6)
    }

    @Test func coordinatorCPUPerStepWindow() {
        // Steps at 0 s, 2 s and 3 s with 0.0, 0.1 and 0.2 CPU seconds; the run ends at 9.002 s
        // with 0.5: windows of 2 s at 5 %, 1 s at 10 %, 6.002 s at 0.3 / 6.002.
        let coordinator = RunReport(events: Self.run).coordinator
        #expect(coordinator.steps.map(\.index) == [0, 1, 2])
        #expect(coordinator.steps.map(\.action) == ["spawn all", "spawn peer-4", "crash peer-2"])
        #expect(abs(coordinator.steps[0].cpuPercent - 5) < 1e-9)
        #expect(abs(coordinator.steps[1].cpuPercent - 10) < 1e-9)
        #expect(abs(coordinator.steps[2].seconds - 6.002) < 1e-9)
        #expect(abs(coordinator.steps[2].cpuPercent - 0.3 / 6.002 * 100) < 1e-9)
        #expect(coordinator.cpuSeconds == 0.5)
        #expect(abs(coordinator.cpuPercent - 0.5 / 9.002 * 100) < 1e-9)
    }

    @Test func aPeerThatDiedUnaskedIsFailedAndAnUnfinishedRunSaysSo() {
        let events = [
            Self.at(0, "testbed", .step(index: 0, action: "spawn all", cpuSeconds: 0.0)),
            Self.at(1, "peer-1", .spawned(pid: 5, address: "127.100.0.1")),
            Self.at(9, "peer-1", .exited(status: 1, signal: nil, cause: "failed", maxRssKB: 0, pssKB: nil)),
            Self.at(10, "peer-2", .spawnFailed(message: "ENOENT")),
        ]
        let report = RunReport(events: events)
        #expect(report.peers.failed == 2)
        #expect(report.run.outcome == "unfinished")
    }

    @Test func eachLinkSaysWhichProfileItRanWithAndWhatThatProfileIs() throws {
        let wifi: [String: JSONValue] = ["delayMs": .number(3), "loss": .object(["model": .string("gilbert-elliott")])]
        let counts = ["packets": 10, "delivered": 9, "lost": 1]
        let events =
            Self.run + [
                Self.at(0, "testbed", .linkProfile(name: "wifi", file: "Testbed/profiles/wifi.yaml", parameters: wifi)),
                Self.at(1, "peer-1", .linkAssigned(profile: "wifi", direction: "up")),
                Self.at(1, "peer-1", .linkAssigned(profile: "wifi", direction: "down")),
                Self.at(5000, "peer-1", .linkChanged(profile: "lossy", direction: "both")),
                Self.at(9005, "peer-1", .linkCounters(direction: "up", counts: counts)),
                Self.at(9005, "peer-1", .linkCounters(direction: "down", counts: counts)),
                Self.at(9005, "peer-2", .linkCounters(direction: "up", counts: counts)),
            ]
        let links = RunReport(events: events).links
        #expect(links.count == 3)
        let up = try #require(links.first { $0.peer == "peer-1" && $0.direction == "up" })
        #expect(up.profile == "wifi")
        #expect(up.profileFile == "Testbed/profiles/wifi.yaml")
        #expect(up.parameters == .object(wifi))
        #expect(up.changes.map(\.profile) == ["lossy"])
        let bare = try #require(links.first { $0.peer == "peer-2" })
        #expect(bare.profile == nil)
        #expect(bare.parameters == nil)
        let text = RunReport(events: events).text()
        #expect(
            text.contains(
                "2 link directions started with wifi (Testbed/profiles/wifi.yaml: delayMs 3, loss (model gilbert-elliott))"
            ))
        #expect(text.contains("1 link directions started with no profile (a perfect link)"))
        #expect(text.contains("2 changes by link steps"))
    }
}
