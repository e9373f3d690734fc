import OverlayCore
import Testing

@testable import Mobility

/// A client's persistent connection on a simulated network with virtual time: it sends a
/// request every 15 ms for 10 s while its service moves from host A to host B at a random
/// moment (A freezes, B holds A's state, A redirects its channels and forwards late requests to
/// B for 2 s) and its control channel breaks at random moments. Afterwards B has applied every
/// request exactly once, in order, and the client holds none unapplied.
struct SessionWorld {
    enum Host: Int, Hashable { case a, b }

    struct Service {
        var table = SessionTable()
        var applied: [[UInt8]] = []
        var serving = false
        var frozen = false
    }

    enum Event {
        case toHost(Host, channel: Int, SessionMessage)
        case toClient(channel: Int, SessionMessage)
        case late(session: SessionID, SessionMessage)
        case connect(channel: Int, Host)
        case clientTimer(ServiceConnectionStateMachine.Timer)
        case appSends
        case migrate
        case breakChannel
        case releaseA
    }

    var now: Duration = .zero
    private var queue: [(at: Duration, order: Int, event: Event)] = []
    private var order = 0
    var client = ServiceConnectionStateMachine(client: "peer-2")
    var services: [Host: Service] = [.a: Service(serving: true), .b: Service()]
    /// Open channels: which host, the session on it (host side), open or not.
    var channels: [Int: (host: Host, session: SessionID?, open: Bool)] = [:]
    var sent: [[UInt8]] = []
    var moves = 0
    /// Requests A forwarded late, and requests a host saw again after applying them.
    var lateForwarded = 0
    var repeats = 0
    private var counter: UInt32 = 0
    private var random: SeededGenerator
    private var secrets: SessionSecrets
    private var lastArrival: [String: Duration] = [:]
    var log: [String] = []

    init(seed: UInt64, breaks: Int) {
        random = SeededGenerator(seed: seed)
        secrets = .seeded(SeededGenerator(seed: seed).derived("sessions"))
        schedule(.migrate, at: .milliseconds(2000 + Int64(random.next() % 4000)))
        for _ in 0..<breaks { schedule(.breakChannel, at: .milliseconds(500 + Int64(random.next() % 9000))) }
    }

    static func address(_ host: Host) -> String { host == .a ? "10.0.0.1:7000" : "10.0.0.2:7000" }

    mutating func schedule(_ event: Event, at time: Duration) {
        order += 1
        queue.append((time, order, event))
    }

    private mutating func deliver(_ event: Event, link: String) {
        let arrival = max(
            now + .microseconds(300 + Int64(random.next() % 4700)), (lastArrival[link] ?? .zero) + .microseconds(1))
        lastArrival[link] = arrival
        schedule(event, at: arrival)
    }

    mutating func run(until end: Duration = .seconds(20)) {
        carryOut(client.handle(.start))
        schedule(.appSends, at: .milliseconds(15))
        while let index = queue.indices.min(by: { (queue[$0].at, queue[$0].order) < (queue[$1].at, queue[$1].order) }),
            queue[index].at <= end
        {
            let (at, _, event) = queue.remove(at: index)
            now = at
            handle(event)
        }
    }

    private mutating func handle(_ event: Event) {
        switch event {
        case .appSends:
            guard now < .seconds(10) else { return }
            counter += 1
            let body = withUnsafeBytes(of: counter.bigEndian) { Array($0) }
            sent.append(body)
            carryOut(client.handle(.send(body: body)))
            schedule(.appSends, at: now + .milliseconds(15))
        case .connect(let channel, let host):
            if services[host]!.serving || services[host]!.frozen {
                channels[channel] = (host, nil, true)
                carryOut(client.handle(.connected(channel)))
            } else {
                carryOut(client.handle(.closed(channel)))
            }
        case .toHost(let host, let channel, let message):
            guard channels[channel]?.open == true else { return }
            serve(message, at: host, channel: channel)
        case .toClient(let channel, let message):
            guard channels[channel]?.open == true else { return }
            carryOut(client.handle(.message(channel, message)))
        case .late(let session, let message):
            // A request that reached A after the freeze, applied by B.
            let (outputs, _) = services[.b]!.table.handle(message, on: session, dataAddress: "b", secrets: &secrets)
            apply(outputs, at: .b)
        case .clientTimer(let timer):
            carryOut(client.handle(.timerFired(timer)))
        case .migrate:
            services[.a]!.frozen = true
            services[.b]!.table = services[.a]!.table
            services[.b]!.applied = services[.a]!.applied
            services[.b]!.serving = true
            log.append("\(now) migrate after \(services[.a]!.applied.count) requests")
            for (channel, state) in channels where state.host == .a && state.open {
                deliver(
                    .toClient(channel: channel, .redirect(control: Self.address(.b), data: "b")), link: "c\(channel)")
            }
            schedule(.releaseA, at: now + .seconds(2))
        case .releaseA:
            services[.a]!.serving = false
            services[.a]!.frozen = false
            for (channel, state) in channels where state.host == .a && state.open { close(channel) }
        case .breakChannel:
            guard let channel = client.current?.channel, channels[channel]?.open == true else { return }
            log.append("\(now) channel \(channel) breaks")
            close(channel)
        }
    }

    private mutating func close(_ channel: Int) {
        channels[channel]?.open = false
        carryOut(client.handle(.closed(channel)))
    }

    private mutating func serve(_ message: SessionMessage, at host: Host, channel: Int) {
        let service = services[host]!
        if service.frozen {
            // The old host: late requests go to B once; anyone else is told where to go.
            if case .request = message, let session = channels[channel]!.session {
                lateForwarded += 1
                deliver(.late(session: session, message), link: "ab")
            } else {
                deliver(
                    .toClient(channel: channel, .redirect(control: Self.address(.b), data: "b")), link: "c\(channel)")
            }
            return
        }
        guard service.serving else { return close(channel) }
        if case .request(let sequence, _) = message, let session = channels[channel]!.session,
            let known = services[host]!.table.sessions[session], sequence <= known.appliedThrough
        {
            repeats += 1
        }
        let (outputs, session) = services[host]!.table.handle(
            message, on: channels[channel]!.session, dataAddress: host == .a ? "a" : "b", secrets: &secrets)
        channels[channel]!.session = session
        for case .answer(let answer) in outputs {
            deliver(.toClient(channel: channel, answer), link: "c\(channel)")
        }
        apply(outputs, at: host)
    }

    private mutating func apply(_ outputs: [SessionTable.Output], at host: Host) {
        for case .apply(_, let body) in outputs { services[host]!.applied.append(body) }
    }

    private mutating func carryOut(_ outputs: [ServiceConnectionStateMachine.Output]) {
        for output in outputs {
            switch output {
            case .resolve:
                // The registry names the host serving now (A until the migration, then B).
                let host: Host = services[.b]!.serving ? .b : .a
                carryOut(client.handle(.resolved(control: Self.address(host))))
            case .connect(let channel, let control):
                let host: Host = control == Self.address(.a) ? .a : .b
                deliver(.connect(channel: channel, host), link: "c\(channel)")
            case .close(let channel):
                channels[channel]?.open = false
            case .transmit(let channel, let message):
                guard let host = channels[channel]?.host else { continue }
                deliver(.toHost(host, channel: channel, message), link: "h\(channel)")
            case .setTimer(let timer, let delay):
                schedule(.clientTimer(timer), at: now + delay)
            case .moved:
                moves += 1
            case .useData, .deliver:
                break
            }
        }
    }
}

struct SessionSimulationTests {
    @Test(arguments: [0, 1, 3])
    func everyRequestIsAppliedOnceAndInOrderAcrossAMoveAndBreaks(breaks: Int) {
        var late = 0
        var repeats = 0
        for seed in 1...30 as ClosedRange<UInt64> {
            var world = SessionWorld(seed: seed, breaks: breaks)
            world.run()
            late += world.lateForwarded
            repeats += world.repeats
            let applied = world.services[.b]!.applied
            #expect(
                applied == world.sent,
                "seed \(seed): \(applied.count) applied of \(world.sent.count)\n\(world.log.joined(separator: "\n"))")
            #expect(world.client.unapplied.isEmpty, "seed \(seed)")
            #expect(world.client.current?.control == SessionWorld.address(.b), "seed \(seed)")
            if breaks == 0 { #expect(world.moves == 1, "seed \(seed): the redirect moved the connection once") }
        }
        // The runs went down the paths that make exactly-once hard.
        #expect(late > 0 && repeats > 0, "\(late) late, \(repeats) repeated")
    }

    /// A client whose session is ready on channel 1, at the host `old:1` (data to `old:2`).
    static func readyClient(_ name: String, session: SessionID, token: SessionToken) -> ServiceConnectionStateMachine {
        var client = ServiceConnectionStateMachine(client: name)
        _ = client.handle(.start)
        _ = client.handle(.resolved(control: "old:1"))
        _ = client.handle(.connected(1))
        _ = client.handle(.message(1, .ready(session: session, token: token, appliedThrough: 0, data: "old:2")))
        return client
    }

    @Test func aRedirectNamingTheNewHostsDataAddressMovesTheDataAtOnce() {
        var client = Self.readyClient("c", session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9))
        // The new host serves already: data goes there before its control channel is open.
        #expect(
            client.handle(.message(1, .redirect(control: "new:1", data: "new:2")))
                == [.useData("new:2"), .connect(2, to: "new:1")])
        _ = client.handle(.connected(2))
        // Its ready names the same address: no second move.
        let moved = client.handle(
            .message(
                2,
                .ready(
                    session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9), appliedThrough: 0,
                    data: "new:2")))
        #expect(moved.prefix(2) == [.close(1), .moved(control: "new:1")])
        #expect(!moved.contains(.useData("new:2")))
    }

    @Test func aRedirectWhoseNewHostDoesNotAnswerIsTriedAgainWhileTheOldChannelCarriesOn() {
        var client = Self.readyClient("c", session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9))
        #expect(client.handle(.message(1, .redirect(control: "new:1", data: ""))) == [.connect(2, to: "new:1")])
        // The connection to the new host fails (a lost SYN): back off, keep the old channel.
        #expect(client.handle(.closed(2)) == [.setTimer(.backoff, after: .milliseconds(100))])
        #expect(client.current?.channel == 1 && client.moving == nil)
        #expect(client.handle(.timerFired(.backoff)) == [.connect(3, to: "new:1")])
        _ = client.handle(.connected(3))
        let moved = client.handle(
            .message(
                3,
                .ready(
                    session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9), appliedThrough: 0,
                    data: "new:2")))
        #expect(moved.prefix(3) == [.close(1), .moved(control: "new:1"), .useData("new:2")])
        // A retry pending when the old channel breaks gives way to the registry.
        var other = Self.readyClient("d", session: SessionID(high: 0, low: 6), token: SessionToken(high: 0, low: 1))
        _ = other.handle(.message(1, .redirect(control: "new:1", data: "")))
        _ = other.handle(.closed(2))
        _ = other.handle(.closed(1))
        #expect(other.handle(.timerFired(.backoff)) == [.resolve])
    }

    @Test func aChannelWhoseHostFallsSilentIsPingedThenGivenUpForTheRegistry() {
        var client = Self.readyClient("c", session: SessionID(high: 0, low: 5), token: SessionToken(high: 0, low: 9))
        let check = ServiceConnectionStateMachine.Output.setTimer(.liveness, after: .milliseconds(500))
        // The ready was a word from the host: nothing to ask at the first check.
        #expect(client.handle(.timerFired(.liveness)) == [check])
        #expect(client.handle(.timerFired(.liveness)) == [.transmit(1, .ping(nonce: 1)), check])
        // Its pong is a word too: the count starts again.
        #expect(client.handle(.message(1, .pong(nonce: 1))) == [])
        #expect(client.handle(.timerFired(.liveness)) == [check])
        #expect(client.handle(.timerFired(.liveness)) == [.transmit(1, .ping(nonce: 1)), check])
        #expect(client.handle(.timerFired(.liveness)) == [.transmit(1, .ping(nonce: 2)), check])
        // Three checks without a word (1.5 s): the channel is given up, and the service found again.
        #expect(client.handle(.timerFired(.liveness)) == [.close(1), .setTimer(.backoff, after: .milliseconds(100))])
        #expect(client.current == nil)
        #expect(client.handle(.timerFired(.backoff)) == [.resolve])
        // A host that takes the connection and never answers the open is left as well.
        var waiting = ServiceConnectionStateMachine(client: "e")
        _ = waiting.handle(.start)
        _ = waiting.handle(.resolved(control: "hung:1"))
        #expect(waiting.handle(.connected(1)) == [.transmit(1, .open(client: "e")), check])
        #expect(waiting.handle(.timerFired(.liveness)) == [check])
        #expect(waiting.handle(.timerFired(.liveness)) == [check])
        #expect(waiting.handle(.timerFired(.liveness)) == [.close(1), .setTimer(.backoff, after: .milliseconds(100))])
        // A host's session table answers a ping at once.
        var table = SessionTable()
        var secrets = SessionSecrets.seeded(SeededGenerator(seed: 1))
        #expect(
            table.handle(.ping(nonce: 7), on: nil, dataAddress: "a", secrets: &secrets).outputs == [
                .answer(.pong(nonce: 7))
            ])
    }

    @Test func aSessionTableAppliesEachRequestOnce() {
        var table = SessionTable()
        var secrets = SessionSecrets.seeded(SeededGenerator(seed: 4))
        var drawn = secrets
        let (id, token) = drawn.next()
        let (opened, session) = table.handle(.open(client: "c"), on: nil, dataAddress: "d", secrets: &secrets)
        #expect(opened == [.answer(.ready(session: id, token: token, appliedThrough: 0, data: "d"))])
        #expect(session == id)
        var applied: [[UInt8]] = []
        for message in [
            SessionMessage.request(sequence: 1, body: [1]), .request(sequence: 1, body: [1]),
            .request(sequence: 3, body: [3]), .request(sequence: 2, body: [2]), .request(sequence: 3, body: [3]),
        ] {
            for case .apply(_, let body) in table.handle(message, on: session, dataAddress: "d", secrets: &secrets)
                .outputs
            {
                applied.append(body)
            }
        }
        #expect(applied == [[1], [2], [3]])
        #expect(
            table.handle(
                .resume(session: id, token: SessionToken(high: token.high ^ 1, low: token.low)), on: nil,
                dataAddress: "d", secrets: &secrets
            ).outputs == [
                .answer(.unknownSession)
            ])
        #expect(
            table.handle(.resume(session: id, token: token), on: nil, dataAddress: "e", secrets: &secrets).outputs == [
                .answer(.ready(session: id, token: token, appliedThrough: 3, data: "e"))
            ])
    }

    @Test(arguments: [
        SessionMessage.open(client: "peer-2"),
        .resume(session: SessionID(high: .max, low: 3), token: SessionToken(high: 1, low: .max)),
        .request(sequence: 9, body: [1, 2]),
        .ready(
            session: SessionID(high: 2, low: 3), token: SessionToken(high: .max, low: 4), appliedThrough: 5,
            data: "10.0.0.2:40000"), .unknownSession, .applied(sequence: 7),
        .redirect(control: "10.0.0.2:7000", data: "10.0.0.2:7001"), .push(body: []), .ping(nonce: 1),
        .pong(nonce: .max), .standbys([]),
        .standbys([
            StandbyAddress(control: "10.0.0.3:7000", data: "10.0.0.3:7001"), StandbyAddress(control: "a", data: "b"),
        ]),
    ])
    func sessionMessagesDecodeBackAndRefuseEveryProperPrefix(message: SessionMessage) throws {
        #expect(try SessionMessage(frame: message.frame) == message)
        for length in 0..<message.frame.count {
            #expect(throws: WireError.self) { try SessionMessage(frame: Array(message.frame.prefix(length))) }
        }
    }
}
