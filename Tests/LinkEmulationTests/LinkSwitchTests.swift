import OverlayCore
import Testing

@testable import LinkEmulation

/// The emulated network: delivery to the owner of the destination, through uplink then
/// downlink, partitions, and the counters that attribute every loss.
@Suite struct LinkSwitchTests {
    static let p1 = PeerName(index: 1)
    static let p2 = PeerName(index: 2)
    static let p3 = PeerName(index: 3)

    /// 10.100.0.N as a host-order address.
    static func address(_ peer: PeerName) -> UInt32 { 0x0A64_0000 | UInt32(peer.index) }

    /// A 100-byte IPv4 packet to `peer`.
    static func packet(to peer: PeerName) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 100)
        bytes[0] = 0x45
        let address = Self.address(peer)
        bytes[16...19] = [
            UInt8(address >> 24), UInt8((address >> 16) & 0xFF), UInt8((address >> 8) & 0xFF), UInt8(address & 0xFF),
        ]
        return bytes
    }

    static func network(_ profiles: [PeerName: (LinkProfile, LinkProfile)], seed: UInt64 = 1) -> LinkSwitch {
        var network = LinkSwitch(seed: seed)
        for peer in [p1, p2, p3] {
            let (up, down) = profiles[peer] ?? (.zero, .zero)
            network.attach(peer, address: address(peer), up: up, down: down)
        }
        return network
    }

    static func send(_ network: inout LinkSwitch, _ bytes: [UInt8], from peer: PeerName, at time: Duration)
        -> [LinkSwitch.Delivery]
    {
        bytes.withUnsafeBytes { network.handle($0, from: peer, at: time) }
    }

    @Test func aPacketReachesTheOwnerOfItsDestinationOnly() {
        var network = Self.network([:])
        #expect(
            Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .seconds(1)) == [
                .init(to: Self.p2, at: .seconds(1))
            ])
        var stranger = Self.packet(to: Self.p2)
        stranger[19] = 99
        #expect(Self.send(&network, stranger, from: Self.p1, at: .seconds(1)).isEmpty)
        #expect(Self.send(&network, [0x60] + [UInt8](repeating: 0, count: 60), from: Self.p1, at: .seconds(1)).isEmpty)
        #expect(network.unknownDestination == 2)
    }

    @Test func delaysAddUpFromUplinkAndDownlink() {
        var network = Self.network([
            Self.p1: (LinkProfile(delay: .milliseconds(10)), .zero),
            Self.p2: (.zero, LinkProfile(delay: .milliseconds(25))),
        ])
        #expect(
            Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .zero) == [
                .init(to: Self.p2, at: .milliseconds(35))
            ])
    }

    @Test func lossIsAttributedToTheLinkThatLostIt() {
        var network = Self.network([Self.p1: (LinkProfile(loss: .independent(0.2)), .zero)])
        for index in 0..<5000 {
            _ = Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .milliseconds(20 * index))
        }
        let up = network.counters[.init(peer: Self.p1, up: true)]!
        let down = network.counters[.init(peer: Self.p2, up: false)]!
        #expect(up.packets == 5000)
        #expect(up.lost + up.delivered == 5000)
        #expect(abs(Double(up.lost) - 1000) < 2.576 * (5000 * 0.2 * 0.8).squareRoot())
        #expect(down.packets == up.delivered)
        #expect(down.delivered == up.delivered)
        #expect(down.lost == 0)
    }

    @Test func aDuplicateOnTheUplinkCrossesTheDownlinkTwice() {
        var network = Self.network([Self.p1: (LinkProfile(duplication: 1), .zero)])
        #expect(Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .zero).count == 2)
        #expect(network.counters[.init(peer: Self.p1, up: true)]?.duplicated == 1)
        #expect(network.counters[.init(peer: Self.p2, up: false)]?.packets == 2)
    }

    @Test func partitionsCutBetweenGroupsUntilHealed() {
        var network = Self.network([:])
        network.partition([[Self.p1, Self.p2], [Self.p3]])
        #expect(Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .zero).count == 1)
        #expect(Self.send(&network, Self.packet(to: Self.p3), from: Self.p1, at: .zero).isEmpty)
        #expect(network.counters[.init(peer: Self.p1, up: true)]?.partitioned == 1)
        network.heal()
        #expect(Self.send(&network, Self.packet(to: Self.p3), from: Self.p1, at: .zero).count == 1)
    }

    @Test func aProfileChangeAppliesFromTheNextPacket() {
        var network = Self.network([:])
        #expect(
            Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .zero) == [.init(to: Self.p2, at: .zero)])
        network.setProfile(LinkProfile(delay: .milliseconds(50)), for: Self.p1, up: true, down: false)
        #expect(
            Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .seconds(1)) == [
                .init(to: Self.p2, at: .milliseconds(1050))
            ])
        #expect(
            Self.send(&network, Self.packet(to: Self.p1), from: Self.p2, at: .seconds(2)) == [
                .init(to: Self.p1, at: .seconds(2))
            ])
    }

    @Test func theSameSeedReplaysTheSameNetwork() {
        let wifi = LinkProfile(
            delay: .milliseconds(3), jitter: .normal(deviation: .milliseconds(2)), loss: .independent(0.05))
        func run(seed: UInt64) -> [[LinkSwitch.Delivery]] {
            var network = Self.network([Self.p1: (wifi, wifi), Self.p2: (wifi, wifi)], seed: seed)
            return (0..<500).map {
                Self.send(&network, Self.packet(to: Self.p2), from: Self.p1, at: .milliseconds(20 * $0))
            }
        }
        #expect(run(seed: 9) == run(seed: 9))
        #expect(run(seed: 9) != run(seed: 10))
    }
}
