import Foundation
import OverlayCore
import Testing

@testable import Scenario

/// Parsing scenario files: good ones into exact values, bad ones into diagnostics with exact
/// file:line:column and message.
@Suite struct ScenarioParserTests {
    static func fixture(_ name: String) throws -> (text: String, file: String) {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "yaml", subdirectory: "Fixtures"))
        return (try String(contentsOf: url, encoding: .utf8), "\(name).yaml")
    }

    /// The diagnostics of a file, as `line:column: message`.
    static func problems(_ name: String) throws -> [String] {
        let (text, file) = try fixture(name)
        do {
            _ = try Scenario.parse(text, file: file)
            return []
        } catch {
            #expect(error.items.allSatisfy { $0.position.file == file })
            return error.items.map { "\($0.position.line):\($0.position.column): \($0.message)" }
        }
    }

    @Test func goodFileParsesIntoExactValues() throws {
        let (text, file) = try Self.fixture("good")
        let scenario = try Scenario.parse(text, file: file)
        #expect(scenario.name == "good-1")
        #expect(scenario.summary == "Every kind of step.")
        #expect(scenario.mode == .loopback)
        #expect(scenario.seed == 42)
        #expect(scenario.peerCount == 4)
        #expect(
            scenario.steps.map(\.at) == [
                .zero, .zero, .milliseconds(250), .milliseconds(500), .milliseconds(1500), .seconds(2), .seconds(3),
                .seconds(4), .seconds(5), .seconds(120),
            ])
        let names = { (indices: [Int]) in indices.map(PeerName.init(index:)) }
        #expect(
            scenario.steps.map(\.action) == [
                .spawn(.named(names([1, 2, 3]))), .wait(.ready, timeout: .seconds(20)), .spawn(.count(2)),
                .wait(.ready, timeout: .seconds(30)), .pause(.named(names([2]))), .resume(.named(names([2]))),
                .leave(.named(names([5]))), .crash(.named(names([3]))),
                .churn(
                    ChurnSpec(
                        duration: .seconds(60), session: .pareto(shape: 1.5, mean: 30), arrivalRate: 0.25,
                        crashFraction: 0.5, exclude: names([1]))),
                .stop,
            ])
        #expect(scenario.steps[4].position == SourcePosition(file: "good.yaml", line: 17, column: 12))
        #expect(
            scenario.expectations.map(\.text) == [
                "peers.crashed == 1", "handoffs[*].lost <= 0", "streams[2].jitterMs < 1.5e1",
            ])
        #expect(scenario.expectations[1].path == [.key("handoffs"), .every, .key("lost")])
        #expect(scenario.expectations[2].path == [.key("streams"), .index(2), .key("jitterMs")])
        #expect(scenario.expectations[2].comparison == .less)
        #expect(scenario.expectations[2].value == 15)
        #expect(scenario.expectations[0].position == SourcePosition(file: "good.yaml", line: 34, column: 5))
    }

    @Test func everySyntaxProblemIsReportedWithItsPosition() throws {
        #expect(
            try Self.problems("bad-syntax") == [
                "1:7: name must be letters, digits, '.', '_' or '-' (it names the run folder)",
                "2:8: peers must be a whole number from 1 to 65000 (or {count: N})",
                "3:7: mode must be loopback or netns, not 'cloud'",
                "4:1: unknown key 'colour' (expected one of: name, description, mode, seed, peers, links, dht, timeline, expect)",
                "7:5: unknown step 'spwan' (expected one of: spawn, leave, crash, pause, resume, churn, wait, stop, link, partition, heal, join, lookups, register, resolve, deploy, migrate, clients)",
                "8:9: bad duration '5x': use a number and a unit (250ms, 5s, 2m)",
                "12:9: time goes backwards: 2s comes after 3s",
                "15:21: 'node-7' is not a peer name (peer-1, peer-2, ...)",
                "17:19: expected a comparison: == != < <= > >=",
                "18:22: expected a number to compare with",
            ])
    }

    @Test func actionsOnPeersThatAreNotThereAreReportedAtTheirStep() throws {
        #expect(
            try Self.problems("bad-membership") == [
                "9:12: peer-2 is not running at 2s (it crashed at 1s)",
                "11:13: peer-1 is not paused at 3s",
                "13:12: unknown peer peer-9: the scenario declares peer-1 ... peer-3",
            ])
    }

    @Test func churnParametersAndStepsAfterStop() throws {
        #expect(
            try Self.problems("bad-churn") == [
                "8:17: churn duration must be more than 0s",
                "9:46: pareto needs a shape above 1 (its mean is infinite otherwise)",
                "10:23: crash-fraction must be a number from 0 to 1",
                "13:5: a step after 'stop' never runs",
            ])
    }

    @Test func yamlSyntaxErrorsCarryTheParsersPosition() throws {
        #expect(try Self.problems("bad-yaml") == ["3:9: YAML: did not find expected ',' or ']'"])
    }

    @Test(arguments: [
        ("name: a\npeers: +5\ntimeline: []\n", "2:8: peers must be a whole number from 1 to 65000 (or {count: N})"),
        (
            "name: a\npeers: 1\ntimeline:\n  - at: 0s\n    wait: {until: ready, timeout: 0s}\n",
            "5:35: a wait timeout must be more than 0s"
        ),
        (
            "name: a\npeers: 64999\ntimeline:\n  - at: 0s\n    spawn: {count: 5}\n",
            "5:12: spawning 5 more peers would pass peer-65000, the highest peer number"
        ),
        (
            "name: a\npeers: 2\ndht: {stabilize: 5ms}\ntimeline: []\n",
            "3:18: stabilize must be at least 10ms"
        ),
        (
            "name: a\npeers: 2\ndht: {successors: 0}\ntimeline: []\n",
            "3:19: successors must be a whole number from 1 to 32"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    lookups: {count: 5, rate: 0}\n",
            "7:31: rate is lookups per second, more than 0 and at most 10000"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    join: {peers: all, through: peer-1}\n",
            "7:24: unknown key 'through' in join (expected peers, via)"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: peer-1\n  - at: 1s\n    resolve: {peer: peer-2, service: v}\n",
            "7:14: peer-2 is not running at 1s (it was never spawned)"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    register: {peer: peer-1, service: v, lease: 0s}\n",
            "7:49: a lease lasts from 1s to 3600s"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    register: {peer: peer-1, service: v, lease: 2h}\n",
            "7:49: a lease lasts from 1s to 3600s"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    deploy: {peer: peer-1, service: v, kind: chat}\n",
            "7:46: unknown service kind 'chat' (known: game, voice-relay)"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    migrate: {service: v, to: host-2}\n",
            "7:31: 'host-2' is not a peer name (peer-1, peer-2, ...)"
        ),
        (
            "name: a\npeers: 3\ntimeline:\n  - at: 0s\n    spawn: [peer-1, peer-2]\n  - at: 1s\n    migrate: {service: v, to: peer-3}\n",
            "7:14: peer-3 is not running at 1s (it was never spawned)"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    migrate: {service: v}\n",
            "7:14: migrate needs a service and a peer to move it to"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    deploy: {peer: peer-1, service: v, kind: voice-relay}\n  - at: 1s\n    clients: {service: v, peers: all, quality: 11}\n",
            "9:48: quality is a whole number from 0 to 10"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    deploy: {peer: peer-1, service: v, kind: voice-relay}\n  - at: 1s\n    clients: {service: v, peers: all, speak: /etc/a.wav}\n",
            "9:46: speak names a .wav file relative to the repository root"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    deploy: {peer: peer-1, service: v, kind: voice-relay}\n  - at: 1s\n    clients: {service: v, peers: all, for: 2s}\n",
            "9:39: for is given only with speak"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    deploy: {peer: peer-1, service: v, kind: voice-relay}\n  - at: 1s\n    clients: {service: v, peers: all, inputs: 5}\n",
            "9:39: unknown key 'inputs' in clients of a voice-relay (expected service, peers, speak, from, for, band, quality)"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: all\n  - at: 1s\n    clients: {service: v, peers: all}\n",
            "7:24: no deploy step before this one starts 'v': its kind is unknown"
        ),
        (
            "name: a\npeers: 2\ntimeline:\n  - at: 0s\n    spawn: peer-1\n  - at: 1s\n    deploy: {peer: peer-1, service: v, kind: voice-relay}\n  - at: 1s\n    clients: {service: v, peers: [peer-2]}\n",
            "9:14: peer-2 is not running at 1s (it was never spawned)"
        ),
    ])
    func inlineProblems(yaml: String, expected: String) {
        do {
            _ = try Scenario.parse(yaml, file: "inline.yaml")
            Issue.record("parsed")
        } catch {
            #expect(error.items.map { "\($0.position.line):\($0.position.column): \($0.message)" } == [expected])
        }
    }

    @Test func dhtStepsParseAndPlan() throws {
        let yaml = """
            name: d
            peers: 3
            timeline:
              - at: 0s
                spawn: all
              - at: 1s
                join: {peers: [peer-2, peer-3], via: peer-1}
              - at: 2s
                lookups: {count: 10, rate: 5, from: [peer-2]}
              - at: 3s
                register: {peer: peer-3, service: voice}
              - at: 4s
                resolve: {peer: peer-1, service: voice}
            """
        let scenario = try Scenario.parse(yaml, file: "d.yaml")
        #expect(scenario.dht == DHTSettings())
        var tuned = DHTSettings()
        tuned.stabilize = .milliseconds(250)
        tuned.successors = 4
        #expect(try Scenario.parse("dht: {stabilize: 250ms, successors: 4}\n" + yaml, file: "d.yaml").dht == tuned)
        #expect(
            scenario.steps.dropFirst().map(\.action) == [
                .join(.named([PeerName(index: 2), PeerName(index: 3)]), via: PeerName(index: 1)),
                .lookups(count: 10, rate: 5, from: .named([PeerName(index: 2)])),
                .register(peer: PeerName(index: 3), service: "voice", lease: .seconds(30)),
                .resolve(peer: PeerName(index: 1), service: "voice"),
            ])
        let kinds = try scenario.plan().actions.dropFirst(3).map(\.kind)
        #expect(
            kinds == [
                .join([PeerName(index: 2), PeerName(index: 3)], via: PeerName(index: 1)),
                .lookups(count: 10, rate: 5, from: [PeerName(index: 2)]),
                .register(PeerName(index: 3), service: "voice", lease: .seconds(30)),
                .resolve(PeerName(index: 1), service: "voice"),
            ])
    }

    @Test func voiceStepsParseAndPlanOneActionPerClient() throws {
        let yaml = """
            name: v
            peers: 3
            timeline:
              - at: 0s
                spawn: all
              - at: 1s
                deploy: {peer: peer-1, service: voice, kind: voice-relay}
              - at: 2s
                clients: {service: voice, peers: [peer-2, peer-3]}
              - at: 3s
                clients: {service: voice, peers: [peer-2], speak: Testbed/audio/reference.wav, from: 8s, for: 4s, band: ultraWideband, quality: 5}
              - at: 4s
                migrate: {service: voice, to: peer-3}
            """
        let scenario = try Scenario.parse(yaml, file: "v.yaml")
        let speech = ClientsStep(
            service: "voice", kind: "voice-relay", peers: .named([PeerName(index: 2)]),
            parameters: [
                "speak": .text("Testbed/audio/reference.wav"), "from": .number(8), "for": .number(4),
                "band": .text("ultraWideband"), "quality": .number(5),
            ])
        func listening(_ peers: [Int]) -> ClientsStep {
            ClientsStep(service: "voice", kind: "voice-relay", peers: .named(peers.map { PeerName(index: $0) }))
        }
        #expect(
            scenario.steps.dropFirst().map(\.action) == [
                .deploy(peer: PeerName(index: 1), service: "voice", kind: "voice-relay"),
                .clients(listening([2, 3])),
                .clients(speech),
                .migrate(service: "voice", to: PeerName(index: 3)),
            ])
        let kinds = try scenario.plan().actions.dropFirst(3).map(\.kind)
        #expect(
            kinds == [
                .deploy(PeerName(index: 1), service: "voice", kind: "voice-relay"),
                .client(PeerName(index: 2), listening([2])),
                .client(PeerName(index: 3), listening([3])),
                .client(PeerName(index: 2), speech),
                .migrate(service: "voice", to: PeerName(index: 3)),
            ])
    }

    @Test func faultsAimedAtAServicesHostParseAndPlan() throws {
        let yaml = """
            name: f
            peers: 3
            timeline:
              - at: 0s
                spawn: all
              - at: 1s
                deploy: {peer: peer-1, service: voice, kind: voice-relay}
              - at: 2s
                crash: {host-of: voice, at-phase: sync}
              - at: 3s
                leave: {host-of: voice}
              - at: 4s
                pause: {host-of: voice}
              - at: 5s
                crash: {replica-of: voice}
              - at: 6s
                pause: {replica-of: voice, at-phase: claimed}
              - at: 7s
                crash: {host-of: voice, at-phase: claim}
            """
        let faults = [
            HostFault(action: .crash, service: "voice", atPhase: "sync"), HostFault(action: .leave, service: "voice"),
            HostFault(action: .pause, service: "voice"), HostFault(action: .crash, service: "voice", replica: true),
            HostFault(action: .pause, service: "voice", atPhase: "claimed", replica: true),
            HostFault(action: .crash, service: "voice", atPhase: "claim"),
        ]
        let scenario = try Scenario.parse(yaml, file: "f.yaml")
        #expect(scenario.steps.dropFirst(2).map(\.action) == faults.map(StepAction.hostFault))
        #expect(try scenario.plan().actions.dropFirst(4).map(\.kind) == faults.map(PlannedAction.Kind.hostFault))
        #expect(faults[0].summary == "crash the host of voice at its next sync")
        #expect(faults[3].summary == "crash a standby of voice")
        #expect(faults[4].summary == "pause a standby of voice as its next failover reaches claimed")
    }

    @Test func aDeployTakesItsReplicasAndRefusesAnyOtherCount() throws {
        func yaml(_ replicas: String) -> String {
            """
            name: r
            peers: 2
            timeline:
              - at: 0s
                spawn: all
              - at: 1s
                deploy: {peer: peer-1, service: voice, kind: voice-relay, replicas: \(replicas)}
            """
        }
        let scenario = try Scenario.parse(yaml("2"), file: "r.yaml")
        let deploy = StepAction.deploy(peer: PeerName(index: 1), service: "voice", kind: "voice-relay", replicas: 2)
        #expect(scenario.steps[1].action == deploy)
        #expect(
            try scenario.plan().actions.map(\.kind).contains(
                .deploy(PeerName(index: 1), service: "voice", kind: "voice-relay", replicas: 2)))
        for bad in ["9", "-1", "one", "1.5"] {
            do {
                _ = try Scenario.parse(yaml(bad), file: "r.yaml")
                Issue.record("replicas: \(bad) parsed")
            } catch {
                let problem = error.items.first.map { "\($0.position.line):\($0.position.column): \($0.message)" }
                #expect(problem == "7:73: replicas is a whole number from 0 to 8", "\(bad)")
            }
        }
    }

    @Test func aFaultAimedAtAHostNamesWhatIsWrongWithIt() {
        func problems(_ step: String) -> [String] {
            let yaml = """
                name: f
                peers: 2
                timeline:
                  - at: 0s
                    spawn: all
                  - at: 1s
                    \(step)
                  - at: 2s
                    deploy: {peer: peer-1, service: voice, kind: voice-relay}
                """
            do {
                _ = try Scenario.parse(yaml, file: "f.yaml")
                return []
            } catch {
                return error.items.map { "\($0.position.line):\($0.position.column): \($0.message)" }
            }
        }
        #expect(
            problems("leave: {host-of: voice, at-phase: sync}") == [
                "7:29: unknown key 'at-phase' in leave (expected host-of or replica-of)"
            ])
        #expect(
            problems("crash: {host-of: voice, at-phase: takeover}") == [
                "7:39: unknown phase 'takeover' (a source's phases: prepare, replicate, sync, commit, redirect, forward, release;"
                    + " a failover's: claim, claimed, restored)"
            ])
        #expect(problems("crash: {host-of: voice}") == ["7:12: no step before this one deploys voice"])
        #expect(
            problems("pause: {replica-of: voice, at-phase: sync}") == [
                "7:12: a standby has no migration phases: replica-of takes a failover's (claim, claimed, restored)"
            ])
        #expect(
            problems("crash: {host-of: voice, replica-of: voice}") == [
                "7:29: a fault takes one of host-of and replica-of"
            ])
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("1.5s", .milliseconds(1500)),
        ("2m", .seconds(120)), ("1h", .seconds(3600)), ("0s", .zero), ("0.001s", .milliseconds(1)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(ScenarioReader.parseDuration(text) == expected)
    }

    @Test(arguments: ["5x", "5", "-1s", "s", "1.s", ".5s", "1..5s", "5 s", "1e3s", "", "infs", "nans"])
    func malformedDurations(text: String) {
        #expect(ScenarioReader.parseDuration(text) == nil)
    }

    @Test(arguments: [
        ("a.b == 1", [ReportExpectation.PathComponent.key("a"), .key("b")], ReportExpectation.Comparison.equal, 1.0),
        ("x[3].y!=-2", [.key("x"), .index(3), .key("y")], .notEqual, -2),
        ("  h[*].lost   <=  0.5 ", [.key("h"), .every, .key("lost")], .lessOrEqual, 0.5),
        ("a >= 1e3", [.key("a")], .greaterOrEqual, 1000),
        ("a>0", [.key("a")], .greater, 0),
    ])
    func expectations(
        text: String, path: [ReportExpectation.PathComponent], comparison: ReportExpectation.Comparison, value: Double
    ) throws {
        let (parsedPath, parsedComparison, parsedValue) = try ScenarioReader.parseExpectation(text).get()
        #expect(parsedPath == path)
        #expect(parsedComparison == comparison)
        #expect(parsedValue == value)
    }

    @Test(arguments: [
        ("== 1", 0), ("a. == 1", 2), ("a[x] == 1", 2), ("a[1 == 1", 3), ("a = 1", 2), ("a == ", 5),
        ("a == 1 2", 7), ("1a == 1", 0),
    ])
    func malformedExpectationsNameTheirColumn(text: String, offset: Int) {
        guard case .failure(let failure) = ScenarioReader.parseExpectation(text) else {
            Issue.record("'\(text)' parsed")
            return
        }
        #expect(failure.offset == offset)
    }
}

/// Links: profiles per peer and the link, partition and heal steps (netns mode only).
@Suite struct LinkStepTests {
    static let netns = """
        name: links
        mode: netns
        peers: {count: 4, profile: lan}
        links:
          peer-2: mobile
          peer-3: {up: lossy, down: wan}
        timeline:
          - at: 0s
            spawn: all
          - at: 5s
            link: {peer: peer-2, profile: lossy, direction: up}
          - at: 6s
            partition: [[peer-1, peer-2], [peer-3, peer-4]]
          - at: 8s
            heal:
        """

    /// Profiles of these names (zero profiles), as if found in a folder `profiles`.
    static func catalogue(_ names: [String]) -> ProfileCatalogue {
        var catalogue = ProfileCatalogue(folders: ["profiles"])
        for name in names { catalogue.add(NamedProfile(name: name, profile: .zero), file: "profiles/\(name).yaml") }
        return catalogue
    }

    @Test func linksParseAndExpandIntoThePlan() throws {
        let scenario = try Scenario.parse(
            Self.netns, file: "links.yaml", profiles: Self.catalogue(["lan", "mobile", "lossy", "wan"]))
        let p = PeerName.init(index:)
        #expect(scenario.links.everyPeer == "lan")
        #expect(scenario.links.peers[p(2)] == .init(up: "mobile", down: "mobile"))
        #expect(scenario.links.peers[p(3)] == .init(up: "lossy", down: "wan"))
        let kinds = try scenario.plan().actions.map(\.kind).suffix(3)
        #expect(
            Array(kinds) == [
                .link(p(2), profile: "lossy", direction: .up), .partition([[p(1), p(2)], [p(3), p(4)]]), .heal,
            ])
    }

    static func problems(_ yaml: String, profiles: [String] = ["lan", "mobile", "lossy", "wan"]) -> [String] {
        do {
            _ = try Scenario.parse(yaml, file: "l.yaml", profiles: catalogue(profiles))
            return []
        } catch {
            return error.items.map { "\($0.position.line):\($0.position.column): \($0.message)" }
        }
    }

    @Test func profilesInLoopbackModeAreAnErrorNamingTheMode() {
        let loopback = Self.netns.replacingOccurrences(of: "mode: netns", with: "mode: loopback")
        let message = "link profiles and steps need mode netns; in mode loopback every link is one perfect network"
        #expect(
            Self.problems(loopback) == [
                "3:19: \(message)", "4:1: \(message)", "11:5: \(message)", "13:5: \(message)", "15:5: \(message)",
            ])
    }

    @Test func unknownProfilesAndOverlappingGroupsAreErrors() {
        #expect(
            Self.problems(Self.netns, profiles: ["lan", "wan", "lossy"]) == [
                "5:11: unknown link profile 'mobile' (searched profiles; known: lan, lossy, wan)"
            ])
        let overlapping = Self.netns.replacingOccurrences(
            of: "[[peer-1, peer-2], [peer-3, peer-4]]", with: "[[peer-1, peer-2], [peer-2]]")
        #expect(Self.problems(overlapping) == ["13:36: peer-2 is in two partition groups"])
    }

    @Test func aProfileNameIsAnErrorWhenNoProfilesWereFoundAtAll() {
        // An empty catalogue used to switch the check off: the run then got perfect links.
        #expect(
            Self.problems(Self.netns, profiles: []).first
                == "3:28: unknown link profile 'lan' (searched profiles; no profiles found)")
        #expect(
            Self.problems(Self.netns, profiles: []).map { $0.split(separator: ":")[0...1].joined(separator: ":") } == [
                "3:28", "5:11", "6:16", "6:29", "11:35",
            ])
    }
}
