import Mobility
import OverlayCore
import Testing

/// Late data packets travel from source to target as datagrams, so none waits behind a lost
/// one on the overlay's connection; the target takes them only from its source's host and for
/// its migration, and keeps those that overtake the commit for the takeover.
@Suite struct LateDatagramTests {
    typealias Hosting = ServiceHosting<Int>
    static let identity = ServiceIdentity(kind: "counter", version: 1, digest: [1, 2, 3])
    static let source = MigrationMessage.Peer(name: "source", overlay: "10.0.0.1:4000")
    static let target = MigrationMessage.Peer(name: "target", overlay: "10.0.0.2:4000")
    static let packet = LateTraffic.data(sender: "10.0.0.9:7000", packet: [0x80, 0x60, 0, 1]).bytes

    /// Both hosts' cores, with the frames between them delivered at once, except those held.
    struct Pair {
        var source = Hosting(primary: "svc", epoch: 1)
        var target = Hosting(
            replicaOf: "svc", me: LateDatagramTests.target, lease: .seconds(3),
            catalogue: ServiceCatalogue([LateDatagramTests.identity]), contact: "10.0.0.2:5000",
            data: "10.0.0.2:5001", hosting: [])
        var held: [MigrationMessage] = []
        var datagrams: [(bytes: [UInt8], to: String)] = []
        var handledAtTarget: [[UInt8]] = []
        var hold: (MigrationMessage) -> Bool = { _ in false }

        mutating func fromSource(_ outputs: [Hosting.Output]) {
            for output in outputs {
                switch output {
                case .send(let message, _):
                    if hold(message) { held.append(message) } else { fromTarget(target.handle(.message(message))) }
                case .sendDatagram(let bytes, let to):
                    datagrams.append((bytes, to))
                case .freeze:
                    fromSource(source.handle(.frozen(size: 8, state: [0, 0, 0, 0, 0, 0, 0, 0])))
                default:
                    break
                }
            }
        }

        mutating func fromTarget(_ outputs: [Hosting.Output]) {
            for output in outputs {
                switch output {
                case .send(let message, _): fromSource(source.handle(.message(message)))
                case .handleLate(let traffic): handledAtTarget.append(traffic)
                default: break
                }
            }
        }

        mutating func start() {
            fromSource(
                source.handle(
                    .migrate(
                        id: 7, from: LateDatagramTests.source, to: LateDatagramTests.target, lease: .seconds(3),
                        identity: LateDatagramTests.identity, snapshot: (0, 8, [0, 0, 0, 0, 0, 0, 0, 0]))))
        }
    }

    @Test func aDatagramThatOvertakesTheCommitIsHandledOnceTheTargetTookOver() throws {
        var pair = Pair()
        pair.hold = { if case .commit = $0 { true } else { false } }
        pair.start()
        try #require(pair.held.count == 1, "the source committed")
        // A packet reaches the source after its commit: to the target's data socket, not the overlay.
        pair.fromSource(pair.source.handle(.late(traffic: Self.packet)))
        let datagram = try #require(pair.datagrams.first)
        #expect(pair.datagrams.count == 1 && datagram.to == "10.0.0.2:5001")
        #expect(try LateDatagram(bytes: datagram.bytes) == LateDatagram(migration: 7, traffic: Self.packet))
        // Taken only from the source's host, and only for this migration.
        #expect(pair.target.lateMessage(inDatagram: datagram.bytes, from: "10.0.0.66:5000") == nil)
        let other = LateDatagram(migration: 8, traffic: Self.packet).bytes
        #expect(pair.target.lateMessage(inDatagram: other, from: "10.0.0.1:5000") == nil)
        let late = try #require(pair.target.lateMessage(inDatagram: datagram.bytes, from: "10.0.0.1:5000"))
        // Before the commit it waits; with the commit it is handled, after the takeover.
        pair.fromTarget(pair.target.handle(.message(late)))
        #expect(pair.handledAtTarget.isEmpty)
        let commit = pair.held.removeFirst()
        pair.fromTarget(pair.target.handle(.message(commit)))
        #expect(pair.target.role == .primary)
        #expect(pair.handledAtTarget == [Self.packet])
    }

    @Test func controlTrafficStaysOnTheOverlayAndInOrder() throws {
        var pair = Pair()
        pair.start()
        #expect(pair.target.role == .primary)
        let control = LateTraffic.control(session: SessionID(high: 2, low: 3), .request(sequence: 1, body: [1])).bytes
        pair.fromSource(pair.source.handle(.late(traffic: control)))
        #expect(pair.datagrams.isEmpty)
        #expect(pair.handledAtTarget == [control])
    }

    @Test func whatIsNotALateDatagramSaysWhy() {
        #expect(throws: WireError.self) { try LateDatagram(bytes: [0x4D, 0x4C]) }
        #expect(throws: WireError.unsupportedVersion(2)) {
            try LateDatagram(bytes: [0x4D, 0x4C, 2] + [UInt8](repeating: 0, count: 8))
        }
        let control = LateTraffic.control(session: SessionID(high: 2, low: 3), .request(sequence: 1, body: [1])).bytes
        #expect(throws: WireError.self) { try LateDatagram(bytes: LateDatagram(migration: 1, traffic: control).bytes) }
        let bytes = LateDatagram(migration: 1, traffic: Self.packet).bytes
        for length in 0..<bytes.count {
            #expect(throws: WireError.self) { try LateDatagram(bytes: Array(bytes.prefix(length))) }
        }
    }
}
