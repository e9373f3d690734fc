import CPcap
import CSeamlessLinux
import Foundation
import LinkEmulation
import OverlayCore

/// The userspace switch of netns mode: one thread owns every peer's TUN descriptor and the
/// `LinkSwitch`. It reads each packet a peer sends, asks the switch for its fates, keeps the
/// deliveries in time order and writes each to the receiver's TUN device when it is due,
/// handing it to the capture as it goes (raw IP, stamped at delivery on CLOCK_REALTIME); a
/// packet the links deliver to nobody goes to the drops capture, stamped when it was dropped,
/// so the judge can tell what the network lost from what the peers lost.
/// Commands from the run (attach, link changes, stop) reach the thread through a queue and a
/// wake-up pipe.
final class LinkEmulator: @unchecked Sendable {
    typealias Change = LinkChange

    private enum Command {
        case attach(PeerName, address: UInt32, device: CInt, up: LinkProfile, down: LinkProfile)
        case change(Change)
        case stop
    }

    // Shared with the run: guarded by `lock`.
    private let lock = NSLock()
    private var commands: [Command] = []
    private var finished: CheckedContinuation<Void, Never>?
    private var ended = false
    private let wakeRead: CInt
    private let wakeWrite: CInt

    // Owned by the emulator thread.
    private var network: LinkSwitch
    private var devices: [PeerName: CInt] = [:]
    /// Packets on their way: to whom, due when (equal times keep their order).
    private var pending = TimedQueue<ContinuousClock.Instant, (to: PeerName, bytes: [UInt8])>()
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let capture: PcapFile?
    private let drops: PcapFile?
    private(set) var captured = 0

    init(seed: UInt64, capturePath: String?, dropsPath: String?) throws {
        network = LinkSwitch(seed: seed)
        // Nothing opened is left open when a later step fails.
        let capture = try capturePath.map(PcapFile.init(path:))
        let drops: PcapFile?
        do {
            drops = try dropsPath.map(PcapFile.init(path:))
        } catch {
            capture?.close()
            throw error
        }
        var pipe: [CInt] = [-1, -1]
        guard seamless_pipe_cloexec(&pipe) == 0 else {
            capture?.close()
            drops?.close()
            throw HarnessError.system(call: "pipe2", errno: errno)
        }
        self.capture = capture
        self.drops = drops
        wakeRead = pipe[0]
        wakeWrite = pipe[1]
        _ = fcntl(wakeRead, F_SETFL, fcntl(wakeRead, F_GETFL) | O_NONBLOCK)
        start = clock.now
        let thread = Thread { [self] in self.loop() }
        thread.name = "link-emulator"
        thread.start()
    }

    func attach(_ peer: PeerName, address: UInt32, device: CInt, up: LinkProfile, down: LinkProfile) {
        send(.attach(peer, address: address, device: device, up: up, down: down))
    }

    func apply(_ change: Change) { send(.change(change)) }

    /// Stops the thread, closes every device and the capture; returns the per-link counters.
    func stop() async -> [LinkSwitch.LinkKey: LinkSwitch.Counters] {
        await withCheckedContinuation { continuation in
            lock.lock()
            if ended {
                lock.unlock()
                continuation.resume()
                return
            }
            finished = continuation
            lock.unlock()
            send(.stop)
        }
        return network.counters
    }

    private func send(_ command: Command) {
        lock.withLock { commands.append(command) }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var running = true
        while running {
            // Sleep until a packet arrives, a command comes, or the next delivery is due.
            var timeout: Int64 = 50_000_000
            if let due = pending.first?.time {
                let left = due - clock.now
                timeout =
                    left <= .zero
                    ? 0
                    : min(
                        timeout, left.components.seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000)
            }
            let peers = Array(devices.keys)
            var polled = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            polled += peers.map { pollfd(fd: devices[$0]!, events: Int16(POLLIN), revents: 0) }
            _ = seamless_poll_nanoseconds(&polled, UInt(polled.count), timeout)

            if polled[0].revents != 0 { while read(wakeRead, &buffer, 64) > 0 {} }
            for command in lock.withLock({ () -> [Command] in
                defer { commands = [] }; return commands
            }) {
                switch command {
                case .attach(let peer, let address, let device, let up, let down):
                    devices[peer] = device
                    network.attach(peer, address: address, up: up, down: down)
                case .change(.profile(let peer, let profile, let up, let down)):
                    network.setProfile(profile, for: peer, up: up, down: down)
                case .change(.partition(let groups)): network.partition(groups)
                case .change(.heal): network.heal()
                case .stop: running = false
                }
            }
            for (index, peer) in peers.enumerated() where polled[index + 1].revents & Int16(POLLIN) != 0 {
                let device = devices[peer]!
                while true {
                    let count = read(device, &buffer, buffer.count)
                    guard count > 0 else { break }
                    let now = clock.now
                    let deliveries = buffer.withUnsafeBytes {
                        network.handle(UnsafeRawBufferPointer(rebasing: $0[0..<count]), from: peer, at: now - start)
                    }
                    if deliveries.isEmpty {
                        buffer.withUnsafeBytes { drops?.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                    }
                    for delivery in deliveries {
                        let due = start + delivery.at
                        if due <= now, pending.first == nil {
                            // Due already and nothing queued before it: straight through.
                            buffer.withUnsafeBytes {
                                deliver(UnsafeRawBufferPointer(rebasing: $0[0..<count]), to: delivery.to)
                            }
                        } else {
                            pending.insert((delivery.to, Array(buffer[0..<count])), at: due)
                        }
                    }
                }
            }
            while let next = pending.first, next.time <= clock.now {
                _ = pending.popFirst()
                next.element.bytes.withUnsafeBytes { deliver($0, to: next.element.to) }
            }
        }
        for device in devices.values { close(device) }
        devices = [:]
        capture?.close()
        drops?.close()
        close(wakeRead)
        let continuation = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            ended = true
            defer { finished = nil }
            return finished
        }
        continuation?.resume()
    }

    /// Writes one packet to its receiver's device and to the capture.
    private func deliver(_ bytes: UnsafeRawBufferPointer, to peer: PeerName) {
        if let device = devices[peer] { _ = write(device, bytes.baseAddress, bytes.count) }
        record(bytes)
    }

    private func record(_ bytes: UnsafeRawBufferPointer) {
        guard let capture else { return }
        capture.write(bytes)
        captured += 1
    }

    deinit { close(wakeWrite) }
}

/// A pcap file of raw IP packets the emulator writes, each stamped on CLOCK_REALTIME (the
/// clock of events.jsonl) as it is written. Used only by the emulator's thread.
private struct PcapFile {
    let handle: OpaquePointer
    let dumper: OpaquePointer

    init(path: String) throws {
        guard let handle = pcap_open_dead(DLT_RAW, 65535) else {
            throw HarnessError.file(path: path, reason: "pcap_open_dead failed")
        }
        guard let dumper = pcap_dump_open(handle, path) else {
            defer { pcap_close(handle) }
            throw HarnessError.file(path: path, reason: String(cString: pcap_geterr(handle)))
        }
        self.handle = handle
        self.dumper = dumper
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        let now = seamless_realtime_microseconds()
        var header = pcap_pkthdr()
        header.ts.tv_sec = Int(now / 1_000_000)
        header.ts.tv_usec = Int(now % 1_000_000)
        header.caplen = UInt32(bytes.count)
        header.len = UInt32(bytes.count)
        pcap_dump(
            UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), &header,
            bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
    }

    func close() {
        pcap_dump_flush(dumper)
        pcap_dump_close(dumper)
        pcap_close(handle)
    }
}
