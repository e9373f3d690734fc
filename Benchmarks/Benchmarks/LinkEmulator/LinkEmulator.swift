// The link emulator's per-packet decision in netns mode: `LinkSwitch.handle` routes an IPv4
// datagram from one peer's link to another's and draws its fate on both (the sender's uplink
// and the receiver's downlink), here with the `wan` profile's shape (40 ms, normal jitter of
// 5 ms, 1 % independent loss) among 16 peers. Per packet, ×1000 on the throughput line.
import Benchmark
import LinkEmulation
import OverlayCore
import Support

let benchmarks: @Sendable () -> Void = {
    let wan = LinkProfile(
        delay: .milliseconds(40), jitter: .normal(deviation: .milliseconds(5)), loss: .independent(0.01))
    var links = LinkSwitch(seed: 1)
    for index in 1...16 {
        links.attach(PeerName(index: index), address: 0x0A00_0000 | UInt32(index), up: wan, down: wan)
    }
    // A 64-byte UDP datagram from 10.0.0.1 to 10.0.0.2.
    var datagram: [UInt8] = [0x45, 0, 0, 92, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
    datagram += [0x1B, 0x58, 0x1B, 0x58, 0, 72, 0, 0] + [UInt8](repeating: 0, count: 64)
    let attached = links
    Benchmark(
        "SwitchADatagramOnWAN",
        configuration: configuration(timeUnits: .nanoseconds, maxDuration: .seconds(2))
    ) { benchmark in
        var links = attached
        var now = Duration.zero
        datagram.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations {
                now += .microseconds(20)
                blackHole(links.handle(bytes, from: PeerName(index: 1), at: now))
            }
        }
    }
}
