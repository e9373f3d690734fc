import CPcap
import Foundation
import NIOPosix

/// Captures a run's traffic on `lo` with libpcap into `capture.pcap` (standard pcap, opened
/// by Wireshark and tcpdump), filtered to the run's own addresses. Packets are timestamped by
/// the kernel on CLOCK_REALTIME, the clock of events.jsonl. `run()` captures on a thread of its
/// own until `stop()`; `finish()` then closes the file and returns libpcap's counters.
final class CaptureSession: @unchecked Sendable {
    // The handle is used by the capture thread until `run()` returns, and only then by
    // `finish()`. pcap_breakloop is the one call libpcap allows from another thread.
    private let handle: OpaquePointer
    private let dumper: OpaquePointer
    private let thread: NIOThreadPool

    /// libpcap's counters when the capture stopped.
    struct Statistics: Sendable {
        var received: Int
        var kernelDrops: Int
        var interfaceDrops: Int
    }

    /// Why capture could not start.
    enum Failure: Error, CustomStringConvertible {
        case permission(String)
        case libpcap(call: String, message: String)

        var description: String {
            switch self {
            case .permission(let interface):
                "capturing on \(interface) needs root or CAP_NET_RAW and CAP_NET_ADMIN: run testbed as root, "
                    + "or `sudo setcap cap_net_raw,cap_net_admin+eip .build/release/testbed`, or pass --no-capture"
            case .libpcap(let call, let message): "\(call): \(message)"
            }
        }
    }

    /// Opens `interface`, applies `filter` (BPF syntax) and starts writing to `path`.
    static func start(interface: String, filter: String, path: String) throws -> CaptureSession {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &errorBuffer) else {
            let message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Failure.libpcap(call: "pcap_create \(interface)", message: message)
        }
        func fail(_ call: String) -> Failure {
            defer { pcap_close(handle) }
            return .libpcap(call: call, message: String(cString: pcap_geterr(handle)))
        }
        pcap_set_snaplen(handle, 65535)
        // Not immediate mode: only without it does libpcap use TPACKET_V3, which packs packets
        // into the ring as they come. In immediate mode (TPACKET_V2) every packet takes a slot
        // of the snapshot length, 64 KB on `lo`: 32 MB held about 500 packets, and at 256 peers the
        // kernel dropped 30,000-80,000 of them. The kernel hands over a block when it is full
        // or `blockTimeout` after its first packet; `stop()` waits for the last one.
        pcap_set_timeout(handle, Int32(blockTimeout / .milliseconds(1)))
        pcap_set_buffer_size(handle, 64 << 20)  // room for bursts: drops are reported, but better none
        let activated = pcap_activate(handle)
        if activated == PCAP_ERROR_PERM_DENIED {
            pcap_close(handle)
            throw Failure.permission(interface)
        }
        guard activated >= 0 else {
            defer { pcap_close(handle) }
            throw Failure.libpcap(
                call: "pcap_activate \(interface)", message: String(cString: pcap_statustostr(activated)))
        }
        var program = bpf_program()
        guard pcap_compile(handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw fail("pcap_compile '\(filter)'")
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(handle, &program) == 0 else { throw fail("pcap_setfilter") }
        guard let dumper = pcap_dump_open(handle, path) else { throw fail("pcap_dump_open \(path)") }
        return CaptureSession(handle: handle, dumper: dumper)
    }

    private init(handle: OpaquePointer, dumper: OpaquePointer) {
        self.handle = handle
        self.dumper = dumper
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    /// Captures until `stop()`.
    func run() async {
        let handle = UnsafeSendable(handle)
        let user = UnsafeSendable(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self))
        // pcap_dump is itself a pcap_handler: every packet goes straight to the file.
        _ = try? await thread.runIfActive { pcap_loop(handle.value, -1, pcap_dump, user.value) }
    }

    /// How long the kernel holds a block of packets that is not full before handing it over.
    static let blockTimeout: Duration = .milliseconds(50)

    /// Makes `run()` return once what was captured until now reached the file: after the
    /// kernel handed over its last block (from any task).
    func stop() async {
        try? await Task.sleep(for: Self.blockTimeout * 3)
        pcap_breakloop(handle)
    }

    /// After `run()` returned: flushes and closes the file, returns libpcap's counters.
    func finish() async -> Statistics {
        var stats = pcap_stat()
        pcap_stats(handle, &stats)
        pcap_dump_flush(dumper)
        pcap_dump_close(dumper)
        pcap_close(handle)
        try? await thread.shutdownGracefully()
        return Statistics(
            received: Int(stats.ps_recv), kernelDrops: Int(stats.ps_drop), interfaceDrops: Int(stats.ps_ifdrop))
    }
}

/// Carries a C pointer into the capture thread's closure.
private struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
