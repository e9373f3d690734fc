import OverlayCore

/// Something that happened in a run, as recorded in `events.jsonl`. Peers emit the first group
/// on their stdout; the coordinator records the second about the peers it drives and the run.
/// An event name this version does not know is kept as `.other` with all its fields, so a newer
/// peer's events survive an older coordinator; a service kind's own events travel that way too
/// (`KindEvent`), so this vocabulary names no kind.
public enum Event: Sendable, Equatable {
    // Emitted by peers.
    /// The peer's sockets are bound and it takes commands.
    case ready(pid: Int, address: String, tcpPort: Int, udpPort: Int)
    /// The answer to `ping`.
    case pong(id: Int)
    /// The peer is leaving the overlay gracefully (after a `leave` command).
    case leaving
    /// The peer is shutting down (after `shutdown`, SIGTERM or its coordinator's end).
    case stopping(reason: String)
    /// A problem the peer reports and survives (for example a malformed command line).
    case error(message: String)
    /// A migration reached a phase on this host (one of `MigrationPhase`'s names; text, so a
    /// peer with phases this coordinator does not know still reads). `from` and `to` are peer
    /// names; `migration` identifies one migration across both hosts' events.
    case migrationPhase(migration: String, service: String, from: String, to: String, phase: String)
    /// What a migration moved, told by its source when it ends (released or aborted): the
    /// snapshot's bytes before and after compression, operations streamed after it, and the
    /// late data packets and control messages forwarded to the target.
    case migrationTransfer(
        migration: String, service: String, snapshotBytes: Int, compressedBytes: Int, operations: Int, late: Int)
    /// A leaving peer's handover of a service it hosted: `outcome` `moved` when the migration
    /// to `to` released it, else `failed` and why (`to` and `migration` empty when no peer
    /// would take it; `to` empty when a migration already under way at the leave moved it).
    case handover(service: String, migration: String, to: String, outcome: String, reason: String)
    /// A primary's hot standbys that hold the service's state now (names, in stream order),
    /// whenever they change; `epoch`: the primary's; `wanted`: how many it runs with.
    case standbys(service: String, epoch: Int, wanted: Int, peers: [String])
    /// A hot standby took `service` over from `from` under `epoch`: `silenceMs` after it last
    /// heard `from`'s heartbeat, `claimMs` after it decided to (the registry's answer).
    case failover(service: String, from: String, to: String, epoch: Int, silenceMs: Double, claimMs: Double)
    /// A failover of `service` reached `phase` (a `FailoverPhase`) on this peer under
    /// `epoch`, `quietMs` after it last heard the host it fails over from (nil at `restored`).
    case failoverPhase(service: String, epoch: Int, phase: String, quietMs: Double?)
    /// The peer is in the DHT ring: its Chord identifier (40 hex digits) and first successor.
    case dhtJoined(id: String, successor: String)
    /// The join through `bootstrap` failed (nobody answered).
    case dhtJoinFailed(bootstrap: String)
    /// One lookup the coordinator asked for: the key (40 hex digits), the successor found
    /// (`ip:port`, nil when every attempt failed), the remote queries it took and its latency.
    case lookup(key: String, result: String?, hops: Int, latencyMs: Double)
    /// A `register` command's write reached the record's primary (`stored`) or did not.
    case registered(service: String, epoch: Int, stored: Bool)
    /// A `resolve` command's answer: the host (nil when unregistered, expired or unreachable).
    case resolved(service: String, host: String?, epoch: Int?, hops: Int, latencyMs: Double)
    /// The peer's own DHT counters so far: frame bytes sent (length prefixes included), the
    /// part of them that was ring maintenance, bytes received, malformed frames dropped.
    case dhtTraffic(sentBytes: Int, maintenanceBytes: Int, receivedBytes: Int, malformed: Int)
    /// What a part of the peer refused of what others sent it, by reason (a client's
    /// `stranger-datagrams`; a service shell's `refused-connections`, `dropped-resumes` and
    /// `malformed-control`; the runtime's `busy-migrations`), told by each part as it stops,
    /// and only the reasons that occurred.
    case rejected(counts: [String: Int])
    /// A service of `kind` runs here now: clients reach its control channel at `control` and
    /// send data to `data` (both `ip:port`).
    case deployed(service: String, kind: String, control: String, data: String)
    /// A shell of `service` bound its sockets on this peer (a deploy's, a migration target's
    /// or a hot standby's): its control listener at `control`, its data socket at `data`. The
    /// judge takes an address bound again for a new receiver from then on: the system may give
    /// a later shell the port an earlier one closed.
    case bound(service: String, control: String, data: String)
    /// A service or a client of it could not start or stopped on an error.
    case serviceFailed(service: String, reason: String)
    /// A participant joined (`change` is `joined`) or left (`left`) the service hosted here.
    case membership(service: String, participant: Int, name: String, change: String)
    /// This peer's client is in the service: its participant id, the host's control address,
    /// where it sends data, and the client's own data address (`ip:port`).
    case clientJoined(service: String, participant: Int, control: String, data: String, local: String)

    // Recorded by the coordinator.
    /// The run began: scenario name, seed, mode and planned duration in seconds.
    case runStarted(scenario: String, seed: UInt64, mode: String, plannedSeconds: Double)
    /// A timeline step began (index in the scenario, and what it does), with the coordinator's
    /// CPU time used so far (user + system seconds), so each step's window has a CPU figure.
    case step(index: Int, action: String, cpuSeconds: Double)
    /// The peer's process was started.
    case spawned(pid: Int, address: String)
    /// The peer's process could not be started.
    case spawnFailed(message: String)
    /// The coordinator told the peer to leave.
    case leaveSent
    /// The coordinator sent SIGKILL (a scripted crash).
    case crashSent
    /// The coordinator armed a fault in the peer: it crashes itself (`action` `crash`) or hangs
    /// (`pause`) when its next migration of `service` reaches `phase`.
    case faultArmed(service: String, phase: String, action: String)
    /// The coordinator sent SIGSTOP.
    case paused
    /// The coordinator sent SIGCONT.
    case resumed
    /// The peer's process ended. `cause` says what the coordinator expected: `left`,
    /// `crashed`, `stopped` (end of run), `killed` (did not stop in time), or `failed`
    /// (nobody asked it to end). `maxRssKB` is the largest resident size seen (VmHWM);
    /// `pssKB` its proportional set size when the run stopped (shared pages divided among the
    /// processes sharing them: what the peer really cost), if it was running then. `cpuMs` is
    /// the CPU time (user and system) the process used in its life, from the kernel's account
    /// when it was reaped; nil when the kernel gave none.
    case exited(status: Int?, signal: Int?, cause: String, maxRssKB: Int, pssKB: Int?, cpuMs: Int? = nil)
    /// The capture ended: libpcap's counters (packets it saw, dropped in the kernel's buffer,
    /// dropped by the interface).
    case captureStopped(packets: Int, kernelDrops: Int, interfaceDrops: Int)
    /// A link profile the run's links may follow (netns mode, at the start, one per profile
    /// the scenario names): the file it came from and its parameters, so the report says what
    /// each link ran with.
    case linkProfile(name: String, file: String, parameters: [String: JSONValue])
    /// The profile a spawned peer's link direction (`up` or `down`) starts with (netns mode);
    /// a direction without one is a perfect link and gets no event.
    case linkAssigned(profile: String, direction: String)
    /// A peer's link (one direction or both) follows another profile from now on.
    case linkChanged(profile: String, direction: String)
    /// The network was cut between these groups of peers.
    case partitioned(groups: [[String]])
    /// Every partition ended.
    case healed
    /// What one direction of a peer's link did over the run (netns mode), recorded at the end.
    case linkCounters(direction: String, counts: [String: Int])
    /// A `wait` step gave up.
    case waitTimeout(waitingFor: [String])
    /// The run ended: `completed`, `interrupted` or `failed`, with the scenario clock's
    /// elapsed seconds and the coordinator's CPU time so far.
    case runEnded(reason: String, elapsedSeconds: Double, cpuSeconds: Double)
    /// An event this version does not know.
    case other(name: String, fields: [String: JSONValue])

    /// The `event` member of the line.
    public var name: String {
        switch self {
        case .ready: "ready"
        case .pong: "pong"
        case .leaving: "leaving"
        case .stopping: "stopping"
        case .error: "error"
        case .migrationPhase: "migration-phase"
        case .migrationTransfer: "migration-transfer"
        case .handover: "handover"
        case .standbys: "standbys"
        case .failover: "failover"
        case .failoverPhase: "failover-phase"
        case .dhtJoined: "dht-joined"
        case .dhtJoinFailed: "dht-join-failed"
        case .lookup: "lookup"
        case .registered: "registered"
        case .resolved: "resolved"
        case .dhtTraffic: "dht-traffic"
        case .rejected: "rejected"
        case .deployed: "deployed"
        case .bound: "bound"
        case .serviceFailed: "service-failed"
        case .membership: "membership"
        case .clientJoined: "client-joined"
        case .runStarted: "run-started"
        case .step: "step"
        case .spawned: "spawned"
        case .spawnFailed: "spawn-failed"
        case .leaveSent: "leave-sent"
        case .crashSent: "crash-sent"
        case .faultArmed: "fault-armed"
        case .paused: "paused"
        case .resumed: "resumed"
        case .exited: "exited"
        case .captureStopped: "capture-stopped"
        case .linkProfile: "link-profile"
        case .linkAssigned: "link-assigned"
        case .linkChanged: "link-changed"
        case .partitioned: "partitioned"
        case .healed: "healed"
        case .linkCounters: "link-counters"
        case .waitTimeout: "wait-timeout"
        case .runEnded: "run-ended"
        case .other(let name, _): name
        }
    }

    /// The event's own members (everything but `t`, `peer` and `event`).
    public var fields: [String: JSONValue] {
        switch self {
        case .ready(let pid, let address, let tcpPort, let udpPort):
            ["pid": .int(pid), "address": .string(address), "tcpPort": .int(tcpPort), "udpPort": .int(udpPort)]
        case .pong(let id): ["id": .int(id)]
        case .leaving, .leaveSent, .crashSent, .paused, .resumed: [:]
        case .faultArmed(let service, let phase, let action):
            ["service": .string(service), "phase": .string(phase), "action": .string(action)]
        case .stopping(let reason): ["reason": .string(reason)]
        case .error(let message): ["message": .string(message)]
        case .migrationPhase(let migration, let service, let from, let to, let phase):
            [
                "migration": .string(migration), "service": .string(service), "from": .string(from), "to": .string(to),
                "phase": .string(phase),
            ]
        case .migrationTransfer(let migration, let service, let snapshot, let compressed, let operations, let late):
            [
                "migration": .string(migration), "service": .string(service), "snapshotBytes": .int(snapshot),
                "compressedBytes": .int(compressed), "operations": .int(operations), "late": .int(late),
            ]
        case .dhtJoined(let id, let successor): ["id": .string(id), "successor": .string(successor)]
        case .dhtJoinFailed(let bootstrap): ["bootstrap": .string(bootstrap)]
        case .lookup(let key, let result, let hops, let latencyMs):
            [
                "key": .string(key), "result": result.map(JSONValue.string) ?? .null, "hops": .int(hops),
                "latencyMs": .number(latencyMs),
            ]
        case .registered(let service, let epoch, let stored):
            ["service": .string(service), "epoch": .int(epoch), "stored": .bool(stored)]
        case .resolved(let service, let host, let epoch, let hops, let latencyMs):
            [
                "service": .string(service), "host": host.map(JSONValue.string) ?? .null,
                "epoch": epoch.map(JSONValue.int) ?? .null, "hops": .int(hops), "latencyMs": .number(latencyMs),
            ]
        case .rejected(let counts): ["counts": .object(counts.mapValues(JSONValue.int))]
        case .dhtTraffic(let sentBytes, let maintenanceBytes, let receivedBytes, let malformed):
            [
                "sentBytes": .int(sentBytes), "maintenanceBytes": .int(maintenanceBytes),
                "receivedBytes": .int(receivedBytes), "malformed": .int(malformed),
            ]
        case .deployed(let service, let kind, let control, let data):
            ["service": .string(service), "kind": .string(kind), "control": .string(control), "data": .string(data)]
        case .bound(let service, let control, let data):
            ["service": .string(service), "control": .string(control), "data": .string(data)]
        case .serviceFailed(let service, let reason): ["service": .string(service), "reason": .string(reason)]
        case .handover(let service, let migration, let to, let outcome, let reason):
            [
                "service": .string(service), "migration": .string(migration), "to": .string(to),
                "outcome": .string(outcome), "reason": .string(reason),
            ]
        case .standbys(let service, let epoch, let wanted, let peers):
            [
                "service": .string(service), "epoch": .int(epoch), "wanted": .int(wanted),
                "peers": .array(peers.map(JSONValue.string)),
            ]
        case .failover(let service, let from, let to, let epoch, let silenceMs, let claimMs):
            [
                "service": .string(service), "from": .string(from), "to": .string(to), "epoch": .int(epoch),
                "silenceMs": .number(silenceMs), "claimMs": .number(claimMs),
            ]
        case .failoverPhase(let service, let epoch, let phase, let quietMs):
            [
                "service": .string(service), "epoch": .int(epoch), "phase": .string(phase),
                "quietMs": quietMs.map(JSONValue.number) ?? .null,
            ]
        case .membership(let service, let participant, let name, let change):
            [
                "service": .string(service), "participant": .int(participant), "name": .string(name),
                "change": .string(change),
            ]
        case .clientJoined(let service, let participant, let control, let data, let local):
            [
                "service": .string(service), "participant": .int(participant), "control": .string(control),
                "data": .string(data), "local": .string(local),
            ]
        case .runStarted(let scenario, let seed, let mode, let plannedSeconds):
            [
                "scenario": .string(scenario), "seed": .string(String(seed)), "mode": .string(mode),
                "plannedSeconds": .number(plannedSeconds),
            ]
        case .step(let index, let action, let cpuSeconds):
            ["index": .int(index), "action": .string(action), "cpuSeconds": .number(cpuSeconds)]
        case .spawned(let pid, let address): ["pid": .int(pid), "address": .string(address)]
        case .spawnFailed(let message): ["message": .string(message)]
        case .exited(let status, let signal, let cause, let maxRssKB, let pssKB, let cpuMs):
            [
                "status": status.map(JSONValue.int) ?? .null, "signal": signal.map(JSONValue.int) ?? .null,
                "cause": .string(cause), "maxRssKB": .int(maxRssKB), "pssKB": pssKB.map(JSONValue.int) ?? .null,
                "cpuMs": cpuMs.map(JSONValue.int) ?? .null,
            ]
        case .captureStopped(let packets, let kernelDrops, let interfaceDrops):
            ["packets": .int(packets), "kernelDrops": .int(kernelDrops), "interfaceDrops": .int(interfaceDrops)]
        case .linkProfile(let name, let file, let parameters):
            ["name": .string(name), "file": .string(file), "parameters": .object(parameters)]
        case .linkAssigned(let profile, let direction), .linkChanged(let profile, let direction):
            ["profile": .string(profile), "direction": .string(direction)]
        case .partitioned(let groups): ["groups": .array(groups.map { .array($0.map(JSONValue.string)) })]
        case .healed: [:]
        case .linkCounters(let direction, let counts):
            counts.mapValues { JSONValue.int($0) }.merging(["direction": .string(direction)]) { $1 }
        case .waitTimeout(let waitingFor): ["waitingFor": .array(waitingFor.map(JSONValue.string))]
        case .runEnded(let reason, let elapsedSeconds, let cpuSeconds):
            ["reason": .string(reason), "elapsedSeconds": .number(elapsedSeconds), "cpuSeconds": .number(cpuSeconds)]
        case .other(_, let fields): fields
        }
    }

    /// Rebuilds an event from its name and members. A known name with missing or mistyped
    /// members is kept as `.other`, never dropped.
    public init(name: String, fields f: [String: JSONValue]) {
        let parsed: Event? =
            switch name {
            case "ready":
                f.int("pid").flatMap { pid in
                    f.str("address").flatMap { address in
                        f.int("tcpPort").flatMap { tcp in
                            f.int("udpPort").map { .ready(pid: pid, address: address, tcpPort: tcp, udpPort: $0) }
                        }
                    }
                }
            case "pong": f.int("id").map { .pong(id: $0) }
            case "leaving": .leaving
            case "stopping": f.str("reason").map { .stopping(reason: $0) }
            case "error": f.str("message").map { .error(message: $0) }
            case "migration-phase":
                f.str("migration").flatMap { migration in
                    f.str("service").flatMap { service in
                        f.str("from").flatMap { from in
                            f.str("to").flatMap { to in
                                f.str("phase").map {
                                    .migrationPhase(
                                        migration: migration, service: service, from: from, to: to, phase: $0)
                                }
                            }
                        }
                    }
                }
            case "dht-joined":
                f.str("id").flatMap { id in f.str("successor").map { .dhtJoined(id: id, successor: $0) } }
            case "dht-join-failed": f.str("bootstrap").map { .dhtJoinFailed(bootstrap: $0) }
            case "lookup": Self.lookup(f)
            case "registered": Self.registered(f)
            case "resolved": Self.resolved(f)
            case "dht-traffic": Self.dhtTraffic(f)
            case "rejected": Self.rejected(f)
            case "deployed", "bound", "service-failed", "membership", "client-joined", "migration-transfer", "handover",
                "standbys", "failover", "failover-phase":
                Self.service(name, f)
            case "run-started":
                f.str("scenario").flatMap { scenario in
                    f.str("seed").flatMap(UInt64.init).flatMap { seed in
                        f.str("mode").flatMap { mode in
                            f["plannedSeconds"]?.double.map {
                                .runStarted(scenario: scenario, seed: seed, mode: mode, plannedSeconds: $0)
                            }
                        }
                    }
                }
            case "step":
                f.int("index").flatMap { index in
                    f.str("action").flatMap { action in
                        f["cpuSeconds"]?.double.map { .step(index: index, action: action, cpuSeconds: $0) }
                    }
                }
            case "spawned":
                f.int("pid").flatMap { pid in f.str("address").map { .spawned(pid: pid, address: $0) } }
            case "spawn-failed": f.str("message").map { .spawnFailed(message: $0) }
            case "leave-sent": .leaveSent
            case "crash-sent": .crashSent
            case "fault-armed":
                f.str("service").flatMap { service in
                    f.str("phase").flatMap { phase in
                        f.str("action").map { .faultArmed(service: service, phase: phase, action: $0) }
                    }
                }
            case "paused": .paused
            case "resumed": .resumed
            case "exited":
                f.str("cause").flatMap { cause in
                    f.int("maxRssKB").map {
                        .exited(
                            status: f.int("status"), signal: f.int("signal"), cause: cause, maxRssKB: $0,
                            pssKB: f.int("pssKB"), cpuMs: f.int("cpuMs"))
                    }
                }
            case "capture-stopped":
                f.int("packets").flatMap { packets in
                    f.int("kernelDrops").flatMap { kernel in
                        f.int("interfaceDrops").map {
                            .captureStopped(packets: packets, kernelDrops: kernel, interfaceDrops: $0)
                        }
                    }
                }
            case "link-profile":
                f.str("name").flatMap { name in
                    f.str("file").flatMap { file in
                        f["parameters"].flatMap { value -> Event? in
                            guard case .object(let parameters) = value else { return nil }
                            return .linkProfile(name: name, file: file, parameters: parameters)
                        }
                    }
                }
            case "link-assigned":
                f.str("profile").flatMap { profile in
                    f.str("direction").map { .linkAssigned(profile: profile, direction: $0) }
                }
            case "link-changed":
                f.str("profile").flatMap { profile in
                    f.str("direction").map { .linkChanged(profile: profile, direction: $0) }
                }
            case "partitioned":
                f["groups"].flatMap { value -> Event? in
                    guard case .array(let groups) = value else { return nil }
                    let names = groups.compactMap { group -> [String]? in
                        guard case .array(let members) = group else { return nil }
                        return members.compactMap(\.string)
                    }
                    return names.count == groups.count ? .partitioned(groups: names) : nil
                }
            case "healed": .healed
            case "link-counters":
                f.str("direction").map { direction in
                    var counts: [String: Int] = [:]
                    for (key, value) in f where key != "direction" {
                        if let number = value.double.flatMap({ Int(exactly: $0) }) { counts[key] = number }
                    }
                    return .linkCounters(direction: direction, counts: counts)
                }
            case "wait-timeout":
                f["waitingFor"].flatMap { value -> Event? in
                    guard case .array(let items) = value else { return nil }
                    return .waitTimeout(waitingFor: items.compactMap(\.string))
                }
            case "run-ended":
                f.str("reason").flatMap { reason in
                    f["elapsedSeconds"]?.double.flatMap { elapsed in
                        f["cpuSeconds"]?.double.map {
                            .runEnded(reason: reason, elapsedSeconds: elapsed, cpuSeconds: $0)
                        }
                    }
                }
            default: nil
            }
        self = parsed ?? .other(name: name, fields: f)
    }
}

extension Event {
    fileprivate static func lookup(_ f: [String: JSONValue]) -> Event? {
        guard let key = f.str("key"), let result = f.optional("result", f.str), let hops = f.int("hops"),
            let latency = f["latencyMs"]?.double
        else { return nil }
        return .lookup(key: key, result: result, hops: hops, latencyMs: latency)
    }

    fileprivate static func registered(_ f: [String: JSONValue]) -> Event? {
        guard let service = f.str("service"), let epoch = f.int("epoch"), case .bool(let stored)? = f["stored"] else {
            return nil
        }
        return .registered(service: service, epoch: epoch, stored: stored)
    }

    fileprivate static func resolved(_ f: [String: JSONValue]) -> Event? {
        guard let service = f.str("service"), let host = f.optional("host", f.str),
            let epoch = f.optional("epoch", f.int), let hops = f.int("hops"), let latency = f["latencyMs"]?.double
        else { return nil }
        return .resolved(service: service, host: host, epoch: epoch, hops: hops, latencyMs: latency)
    }

    fileprivate static func rejected(_ f: [String: JSONValue]) -> Event? {
        guard case .object(let fields)? = f["counts"] else { return nil }
        var counts: [String: Int] = [:]
        for (reason, value) in fields {
            guard let count = value.integer, count >= 0 else { return nil }
            counts[reason] = count
        }
        return .rejected(counts: counts)
    }

    fileprivate static func dhtTraffic(_ f: [String: JSONValue]) -> Event? {
        guard let sent = f.int("sentBytes"), let maintenance = f.int("maintenanceBytes"),
            let received = f.int("receivedBytes"), let malformed = f.int("malformed")
        else { return nil }
        return .dhtTraffic(
            sentBytes: sent, maintenanceBytes: maintenance, receivedBytes: received, malformed: malformed)
    }
}

extension Event {
    /// The events of hosted services and their clients.
    fileprivate static func service(_ name: String, _ f: [String: JSONValue]) -> Event? {
        guard let service = f.str("service") else { return nil }
        switch name {
        case "deployed":
            guard let kind = f.str("kind"), let control = f.str("control"), let data = f.str("data") else { return nil }
            return .deployed(service: service, kind: kind, control: control, data: data)
        case "bound":
            guard let control = f.str("control"), let data = f.str("data") else { return nil }
            return .bound(service: service, control: control, data: data)
        case "service-failed":
            return f.str("reason").map { .serviceFailed(service: service, reason: $0) }
        case "membership":
            guard let participant = f.int("participant"), let name = f.str("name"), let change = f.str("change") else {
                return nil
            }
            return .membership(service: service, participant: participant, name: name, change: change)
        case "client-joined":
            guard let participant = f.int("participant"), let control = f.str("control"), let data = f.str("data"),
                let local = f.str("local")
            else { return nil }
            return .clientJoined(service: service, participant: participant, control: control, data: data, local: local)
        case "migration-transfer":
            guard let migration = f.str("migration"), let snapshot = f.int("snapshotBytes"),
                let compressed = f.int("compressedBytes"), let operations = f.int("operations"),
                let late = f.int("late")
            else { return nil }
            return .migrationTransfer(
                migration: migration, service: service, snapshotBytes: snapshot, compressedBytes: compressed,
                operations: operations, late: late)
        case "handover":
            guard let migration = f.str("migration"), let to = f.str("to"), let outcome = f.str("outcome"),
                let reason = f.str("reason")
            else { return nil }
            return .handover(service: service, migration: migration, to: to, outcome: outcome, reason: reason)
        case "standbys":
            guard let epoch = f.int("epoch"), let wanted = f.int("wanted"), case .array(let peers)? = f["peers"] else {
                return nil
            }
            let names = peers.compactMap(\.string)
            return names.count == peers.count
                ? .standbys(service: service, epoch: epoch, wanted: wanted, peers: names) : nil
        case "failover":
            guard let from = f.str("from"), let to = f.str("to"), let epoch = f.int("epoch"),
                let silence = f["silenceMs"]?.double, let claim = f["claimMs"]?.double
            else { return nil }
            return .failover(service: service, from: from, to: to, epoch: epoch, silenceMs: silence, claimMs: claim)
        case "failover-phase":
            guard let epoch = f.int("epoch"), let phase = f.str("phase"), FailoverPhase(rawValue: phase) != nil,
                let quiet = f.optional("quietMs", { f[$0]?.double })
            else { return nil }
            return .failoverPhase(service: service, epoch: epoch, phase: phase, quietMs: quiet)
        default: return nil
        }
    }
}

extension [String: JSONValue] {
    fileprivate func int(_ key: String) -> Int? { self[key]?.integer }
    fileprivate func str(_ key: String) -> String? { self[key]?.string }
    /// A member that may be null: nil when it is missing or mistyped, `.some(nil)` when null.
    fileprivate func optional<Member>(_ key: String, _ read: (String) -> Member?) -> Member?? {
        if case .null? = self[key] { return .some(nil) }
        return read(key).map { .some($0) }
    }
}

/// The phases a `migration-phase` event names: the source's prepare, replicate, sync, commit,
/// redirect, forward and release; the target's prepare, replicate, sync, takeover (failover
/// when it took over without the source's commit) and release; aborted on either side.
public enum MigrationPhase: String, Sendable, CaseIterable {
    case prepare, replicate, sync, commit, takeover, failover, redirect, forward, release, aborted

    /// The phases after which the event's `to` host serves the service.
    public static let serving: Set<MigrationPhase> = [.takeover, .failover]
}

/// How a run ended, as its `run-ended` event and `run.outcome` in report.json name it: the
/// timeline completed, Ctrl-C or SIGTERM interrupted it, or a step failed; `unfinished` when
/// the events hold no end (the coordinator itself died).
public enum RunOutcome: String, Sendable, CaseIterable {
    case completed, interrupted, failed, unfinished
}
