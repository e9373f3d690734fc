import Testing

@testable import ControlProtocol

@Suite struct EventLineTests {
    static let everyEvent: [Event] = [
        .ready(pid: 12, address: "127.100.0.1", tcpPort: 7000, udpPort: 7001),
        .pong(id: 3),
        .leaving,
        .stopping(reason: "shutdown"),
        .error(message: "unknown command 'fly'"),
        .migrationPhase(migration: "m1", service: "voice", from: "peer-1", to: "peer-2", phase: "commit"),
        .migrationTransfer(
            migration: "m1", service: "voice", snapshotBytes: 412, compressedBytes: 240, operations: 3, late: 2),
        .handover(service: "voice", migration: "m2", to: "peer-4", outcome: "moved", reason: ""),
        .handover(service: "game", migration: "", to: "", outcome: "failed", reason: "no peer would take it"),
        .standbys(service: "voice", epoch: 2, wanted: 1, peers: ["peer-3"]),
        .standbys(service: "voice", epoch: 1, wanted: 0, peers: []),
        .failover(service: "voice", from: "peer-5", to: "peer-6", epoch: 2, silenceMs: 159.8, claimMs: 6.25),
        .failoverPhase(service: "voice", epoch: 2, phase: "claim", quietMs: 112.5),
        .failoverPhase(service: "voice", epoch: 3, phase: "restored", quietMs: nil),
        .runStarted(scenario: "smoke", seed: UInt64.max, mode: "loopback", plannedSeconds: 14.5),
        .step(index: 2, action: "crash peer-3", cpuSeconds: 0.2),
        .spawned(pid: 99, address: "127.100.0.3"),
        .spawnFailed(message: "no such file"),
        .leaveSent, .crashSent, .paused, .resumed, .faultArmed(service: "voice", phase: "sync", action: "crash"),
        .exited(status: 0, signal: nil, cause: "left", maxRssKB: 11_000, pssKB: 2_500),
        .exited(status: 0, signal: nil, cause: "stopped", maxRssKB: 11_000, pssKB: 2_500, cpuMs: 1_234),
        .exited(status: nil, signal: 9, cause: "crashed", maxRssKB: 0, pssKB: nil),
        .waitTimeout(waitingFor: ["peer-3", "peer-4"]),
        .captureStopped(packets: 1200, kernelDrops: 0, interfaceDrops: 0),
        .linkChanged(profile: "lossy", direction: "up"),
        .linkAssigned(profile: "wifi", direction: "down"),
        .linkProfile(
            name: "wan", file: "Testbed/profiles/wan.yaml",
            parameters: ["delayMs": .number(30), "loss": .object(["model": .string("independent")])]),
        .partitioned(groups: [["peer-1", "peer-2"], ["peer-3"]]),
        .healed,
        .linkCounters(direction: "up", counts: ["packets": 10, "delivered": 9, "lost": 1]),
        .runEnded(reason: "completed", elapsedSeconds: 14.52, cpuSeconds: 0.5),
        .dhtJoined(id: String(repeating: "ab", count: 20), successor: "127.100.0.2:7000"),
        .dhtJoinFailed(bootstrap: "127.100.0.1:7000"),
        .lookup(key: String(repeating: "0f", count: 20), result: "127.100.0.9:7000", hops: 3, latencyMs: 1.25),
        .lookup(key: String(repeating: "0f", count: 20), result: nil, hops: 7, latencyMs: 1500),
        .registered(service: "voice", epoch: 2, stored: true),
        .resolved(service: "voice", host: "127.100.0.4:7000", epoch: 2, hops: 2, latencyMs: 0.8),
        .resolved(service: "gone", host: nil, epoch: nil, hops: 2, latencyMs: 0.8),
        .dhtTraffic(sentBytes: 1000, maintenanceBytes: 800, receivedBytes: 990, malformed: 1),
        .rejected(counts: ["stranger-datagrams": 50, "dropped-resumes": 1]),
        .deployed(service: "voice", kind: "voice-relay", control: "127.100.0.1:40001", data: "127.100.0.1:40002"),
        .bound(service: "voice", control: "127.100.0.5:40003", data: "127.100.0.5:40004"),
        .serviceFailed(service: "voice", reason: "not found in the registry"),
        .membership(service: "voice", participant: 2, name: "peer-3", change: "joined"),
        .clientJoined(
            service: "voice", participant: 2, control: "127.100.0.1:40001", data: "127.100.0.1:40002",
            local: "127.100.0.3:50000"),
        .other(name: "frobnicated", fields: ["key": .string("ab"), "hops": .number(3), "ok": .bool(true)]),
    ]

    @Test(arguments: everyEvent)
    func roundTrip(event: Event) throws {
        let line = EventLine(t: Timestamp(microseconds: 1_764_037_267_123_456), peer: "peer-1", event: event)
        let parsed = try EventLine(line: line.line.dropLast())
        #expect(parsed == line)
    }

    @Test func lineStartsWithTimePeerAndEventThenSortedFields() {
        let line = EventLine(
            t: Timestamp(microseconds: 1_764_037_267_000_001), peer: "peer-2",
            event: .ready(pid: 5, address: "127.100.0.2", tcpPort: 7000, udpPort: 7000))
        #expect(
            line.line
                == "{\"t\":1764037267.000001,\"peer\":\"peer-2\",\"event\":\"ready\",\"address\":\"127.100.0.2\","
                + "\"pid\":5,\"tcpPort\":7000,\"udpPort\":7000}\n")
    }

    @Test func timestampsHaveSixDecimals() {
        #expect(Timestamp(microseconds: 1_500_000).description == "1.500000")
        #expect(Timestamp(microseconds: 42).description == "0.000042")
        #expect(Timestamp(microseconds: -500_000).description == "-0.500000")
    }

    @Test func knownEventWithMissingFieldIsKeptNotDropped() throws {
        let parsed = try EventLine(line: "{\"t\":1.5,\"peer\":\"peer-1\",\"event\":\"ready\",\"pid\":3}")
        #expect(parsed.event == .other(name: "ready", fields: ["pid": .number(3)]))
    }

    @Test(arguments: [
        ("{\"peer\":\"p\",\"event\":\"x\"}", EventLine.DecodingError.missingMember("t")),
        ("{\"t\":1,\"event\":\"x\"}", .missingMember("peer")),
        ("{\"t\":1,\"peer\":\"p\"}", .missingMember("event")),
        ("[]", .notAnObject),
        // A peer's line with a time no clock gives must not trap the coordinator reading it.
        ("{\"t\":9.3e12,\"peer\":\"p\",\"event\":\"x\"}", .timeOutOfRange(9.3e12)),
        ("{\"t\":-1e300,\"peer\":\"p\",\"event\":\"x\"}", .timeOutOfRange(-1e300)),
    ])
    func incompleteLinesAreRejected(line: String, expected: EventLine.DecodingError) {
        #expect(throws: expected) { try EventLine(line: line) }
    }

    @Test func theLargestTimesAcceptedStillConvert() throws {
        let line = try EventLine(line: "{\"t\":\(EventLine.timeLimit),\"peer\":\"p\",\"event\":\"x\"}")
        #expect(line.t.microseconds == Int64(1) << 62)
    }

    @Test func stringsAreEscaped() throws {
        let message = "quote \" backslash \\ newline \n tab \t bell \u{07} é"
        let line = EventLine(t: Timestamp(microseconds: 0), peer: "peer-1", event: .error(message: message))
        #expect(line.line.dropLast().contains("\n") == false)
        #expect(line.line.contains("\\u0007"))
        #expect(try EventLine(line: line.line).event == .error(message: message))
    }
}
