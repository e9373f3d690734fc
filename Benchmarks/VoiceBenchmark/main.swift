// voice-bench: the voice service's two performance goals, measured in one process.
//
//   .build/release/voice-bench [codec|relay|all] [--seconds S] [--rate PACKETS_PER_SECOND]
//
// codec: CPU time (CLOCK_PROCESS_CPUTIME_ID) to encode and decode every 20 ms frame of the
//        reference recording, per band at quality 8.
// relay: a relay on 127.0.0.1 with one sending and one receiving participant made of bare
//        POSIX sockets: the sender offers RTP at the given rate (default 50,000/s) for S seconds
//        (default 5), paced by a monotonic clock; the receiver counts what arrives and which
//        sequence numbers are missing. Reports the relay's own counters and the CPU its event
//        loop thread used (from /proc/self/task).
import Foundation
import Logging
import NIOCore
import NIOPosix
import RTP
import Voice
import VoiceRelay
import VoiceService

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first { !$0.hasPrefix("--") && Double($0) == nil } ?? "all"
func option(_ name: String, _ fallback: Double) -> Double {
    guard let index = arguments.firstIndex(of: name), arguments.index(after: index) < arguments.endIndex else {
        return fallback
    }
    return Double(arguments[arguments.index(after: index)]) ?? fallback
}
let seconds = option("--seconds", 5)
let rate = option("--rate", 50_000)

func processCPU() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func codec() throws {
    let reference = try WAVFile.read(path: "Testbed/audio/reference.wav")
    print("codec: encode + decode of one 20 ms frame, quality 8, CPU time per frame (goal < 0.5 ms wideband)")
    for band in SpeexBand.allCases {
        // Resample by repetition or decimation: the CPU cost depends on the band, not the voice.
        let factor = Double(band.sampleRate) / 16000
        let samples = (0..<Int(Double(reference.samples.count) * factor)).map {
            reference.samples[min(reference.samples.count - 1, Int(Double($0) / factor))]
        }
        let encoder = SpeexEncoder(band: band, quality: 8)
        let decoder = SpeexDecoder(band: band)
        let frames = samples.count / band.frameSize
        let start = processCPU()
        var bytes = 0
        for index in 0..<frames {
            let payload = encoder.encode(Array(samples[(index * band.frameSize)..<((index + 1) * band.frameSize)]))
            bytes += payload.count
            _ = decoder.decode(payload)
        }
        let perFrame = (processCPU() - start) / Double(frames) * 1000
        print(
            "  \(band.rawValue): \(String(format: "%.3f", perFrame)) ms per frame over \(frames) frames, "
                + "\(bytes * 8 / (frames * 20)) kbit/s")
    }
}

/// A participant made of bare POSIX sockets.
struct Participant {
    let data: Int32
    let control: Int32
    let port: UInt16

    static func join(relay control: String, name: String) throws -> Participant {
        let data = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var size: Int32 = 8 << 20
        setsockopt(data, SOL_SOCKET, SO_RCVBUF, &size, 4)
        setsockopt(data, SOL_SOCKET, SO_SNDBUF, &size, 4)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(data, $0, 16) } }
        var length = socklen_t(16)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(data, $0, &length) }
        }
        let port = UInt16(bigEndian: local.sin_port)
        let stream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = UInt16(control.split(separator: ":").last!)!.bigEndian
        guard withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(stream, $0, 16) } }) == 0
        else { throw POSIXError(.ECONNREFUSED) }
        let frame = RelayMessage.join(name: name, dataAddress: "127.0.0.1:\(port)").frame
        let message = [UInt8(frame.count >> 8), UInt8(frame.count & 0xFF)] + frame
        _ = message.withUnsafeBytes { write(stream, $0.baseAddress, $0.count) }
        var answer = [UInt8](repeating: 0, count: 512)
        _ = answer.withUnsafeMutableBytes { read(stream, $0.baseAddress, $0.count) }
        return Participant(data: data, control: stream, port: port)
    }
}

/// CPU seconds (user + system) of this process's threads whose name starts with `prefix`.
func threadCPU(prefix: String) -> Double {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    var total = 0.0
    for task in tasks {
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
            stat[stat.index(after: open)..<close].hasPrefix(prefix)
        else { continue }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        total += (Double(fields[11]) ?? 0) / ticks + (Double(fields[12]) ?? 0) / ticks
    }
    return total
}

func relay() async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let relay = try await RelayShell.start(service: "bench", address: "127.0.0.1", group: group, logger: logger)
    let sender = try Participant.join(relay: relay.controlAddress, name: "sender")
    let receiver = try Participant.join(relay: relay.controlAddress, name: "receiver")
    var target = sockaddr_in()
    target.sin_family = sa_family_t(AF_INET)
    target.sin_addr.s_addr = inet_addr("127.0.0.1")
    target.sin_port = UInt16(relay.dataAddress.split(separator: ":").last!)!.bigEndian
    let total = Int(rate * seconds)
    // What a 20 ms wideband Speex frame at quality 8 looks like on the wire: 12 + 70 bytes.
    let payload = [UInt8](repeating: 0x5A, count: 70)

    let cpuBefore = threadCPU(prefix: "NIO-ELT")
    let receiving = Thread {
        var seen = [Bool](repeating: false, count: total)
        var buffer = [UInt8](repeating: 0, count: 2048)
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(receiver.data, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received = 0
        while received < total {
            let count = buffer.withUnsafeMutableBytes { recv(receiver.data, $0.baseAddress, $0.count, 0) }
            guard count >= 12 else { break }
            let index = Int(buffer[8]) << 24 | Int(buffer[9]) << 16 | Int(buffer[10]) << 8 | Int(buffer[11])
            if index < total, !seen[index] { seen[index] = true }
            received += 1
        }
        ReceiverResult.shared.set(received: received, distinct: seen.filter { $0 }.count)
    }
    receiving.start()
    let clock = ContinuousClock()
    let start = clock.now
    var sent = 0
    while sent < total {
        // Send everything due by now, then sleep a little: a monotonic schedule, no drift.
        let due = min(total, Int((clock.now - start) / .seconds(1) * rate) + 1)
        while sent < due {
            // The SSRC carries the packet's index, so the receiver knows which are missing.
            let packet = RTPPacket(
                payloadType: 97, sequenceNumber: UInt16(truncatingIfNeeded: sent), timestamp: UInt32(sent * 320),
                ssrc: UInt32(sent), payload: payload
            ).bytes
            _ = packet.withUnsafeBytes { bytes in
                withUnsafePointer(to: &target) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(sender.data, bytes.baseAddress, bytes.count, 0, $0, 16)
                    }
                }
            }
            sent += 1
        }
        usleep(200)
    }
    let sendSeconds = (clock.now - start) / .seconds(1)
    while ReceiverResult.shared.get() == nil { usleep(10_000) }
    let (received, distinct) = ReceiverResult.shared.get()!
    let state = try await relay.state()
    let cpu = threadCPU(prefix: "NIO-ELT") - cpuBefore
    print("relay: one sender, one receiver on 127.0.0.1, 82-byte RTP packets (goal: >= 50,000 packets/s, no loss)")
    print(
        "  offered \(sent) packets in \(String(format: "%.2f", sendSeconds)) s = \(Int(Double(sent) / sendSeconds))/s; "
            + "relay received \(state.counters.received), forwarded \(state.counters.forwarded); "
            + "receiver got \(received) (\(distinct) distinct), lost \(total - distinct)")
    print(
        "  relay event loop CPU: \(String(format: "%.2f", cpu)) s = \(String(format: "%.0f", cpu / sendSeconds * 100)) % of one core")
    for participant in [sender, receiver] {
        close(participant.control)
        close(participant.data)
    }
    await relay.close()
    try await group.shutdownGracefully()
}

/// The receiving thread's result, handed to the main task.
final class ReceiverResult: @unchecked Sendable {
    static let shared = ReceiverResult()
    private let lock = NSLock()
    private var result: (Int, Int)?

    func set(received: Int, distinct: Int) { lock.withLock { result = (received, distinct) } }
    func get() -> (Int, Int)? { lock.withLock { result } }
}

if mode == "codec" || mode == "all" { try codec() }
if mode == "relay" || mode == "all" { try await relay() }
