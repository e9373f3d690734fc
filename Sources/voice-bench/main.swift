// voice-bench: the voice service's two performance goals, measured in one process.
//
//   .build/release/voice-bench [codec|relay|pacing|all] [--seconds S] [--rate PACKETS_PER_SECOND]
//
// codec: CPU time (CLOCK_PROCESS_CPUTIME_ID) to encode and decode every 20 ms frame of the
//        reference recording, per band at quality 8.
// relay: a relay on 127.0.0.1 with one sending and one receiving participant made of bare
//        POSIX sockets: the sender offers RTP at the given rate (default 50,000/s) for S seconds
//        (default 5), paced by a monotonic clock; the receiver counts what arrives and which
//        sequence numbers are missing. Reports the relay's own counters and the CPU its event
//        loop thread used (from /proc/self/task).
// pacing: a VoiceClient speaks the reference recording (repeated) for S seconds (default 120)
//        through a relay to a bare listener that notes each packet's arrival on the monotonic
//        clock; the drift of arrivals against n × 20 ms (least squares, in ppm) and the spread
//        around it say whether the speaker keeps time over minutes.
import Foundation
import Logging
import Mobility
import NIOCore
import NIOPosix
import OverlayCore
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
        _ = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(data, $0, 16) }
        }
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
        guard
            withUnsafePointer(
                to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(stream, $0, 16) } }) == 0
        else { throw POSIXError(.ECONNREFUSED) }
        // A session, then the join as its first request; joined once the relay says it applied it.
        let join = RelayMessage.join(name: name, dataAddress: "127.0.0.1:\(port)").frame
        for frame in [SessionMessage.open(client: name).frame, SessionMessage.request(sequence: 1, body: join).frame] {
            let message = [UInt8(frame.count >> 8), UInt8(frame.count & 0xFF)] + frame
            _ = message.withUnsafeBytes { write(stream, $0.baseAddress, $0.count) }
        }
        var received: [UInt8] = []
        for _ in 0..<100 {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(stream, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            received += chunk.prefix(count)
            var frames = received[...]
            while frames.count >= 2,
                frames.count >= 2 + Int(frames[frames.startIndex]) << 8 | Int(frames[frames.startIndex + 1])
            {
                let length = Int(frames[frames.startIndex]) << 8 | Int(frames[frames.startIndex + 1])
                let frame = Array(frames.dropFirst(2).prefix(length))
                frames = frames.dropFirst(2 + length)
                if case .applied(1)? = try? SessionMessage(frame: frame) {
                    return Participant(data: data, control: stream, port: port)
                }
            }
        }
        throw POSIXError(.EPROTO)
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
    let relay = try await RelayShell.start(
        service: "bench", address: "127.0.0.1", group: group, seed: 1, logger: logger)
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
    let result = Mailbox<(Int, Int)>()
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
        result.put((received, seen.filter { $0 }.count))
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
    while result.take() == nil { usleep(10_000) }
    let (received, distinct) = result.take()!
    let state = try await relay.state()
    let cpu = threadCPU(prefix: "NIO-ELT") - cpuBefore
    print("relay: one sender, one receiver on 127.0.0.1, 82-byte RTP packets (goal: >= 50,000 packets/s, no loss)")
    print(
        "  offered \(sent) packets in \(String(format: "%.2f", sendSeconds)) s = \(Int(Double(sent) / sendSeconds))/s; "
            + "relay received \(state.counters.received), forwarded \(state.counters.forwarded); "
            + "receiver got \(received) (\(distinct) distinct), lost \(total - distinct)")
    print(
        "  relay event loop CPU: \(String(format: "%.2f", cpu)) s = \(String(format: "%.0f", cpu / sendSeconds * 100)) % of one core"
    )
    for participant in [sender, receiver] {
        close(participant.control)
        close(participant.data)
    }
    await relay.close()
    try await group.shutdownGracefully()
}

func pacing() async throws {
    let duration = option("--seconds", 120)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let relay = try await RelayShell.start(
        service: "bench", address: "127.0.0.1", group: group, seed: 1, logger: logger)
    let listener = try Participant.join(relay: relay.controlAddress, name: "listener")
    let speaker = try await VoiceClient.join(
        relay: relay.controlAddress, as: "speaker", address: "127.0.0.1", seed: 2, group: group, logger: logger)
    let reference = try WAVFile.read(path: "Testbed/audio/reference.wav").samples
    let wanted = Int(duration * 16000)
    let samples = (0..<wanted).map { reference[$0 % reference.count] }
    let frames = wanted / 320
    let received = Mailbox<[(sequence: Int, seconds: Double)]>()
    let receiving = Thread {
        var buffer = [UInt8](repeating: 0, count: 2048)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(listener.data, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var arrivals: [(sequence: Int, seconds: Double)] = []
        var extender = SequenceExtender()
        while arrivals.count < frames {
            let count = buffer.withUnsafeMutableBytes { recv(listener.data, $0.baseAddress, $0.count, 0) }
            guard count >= 12 else { break }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let sequence = Int(extender.extend(UInt16(buffer[2]) << 8 | UInt16(buffer[3])))
            arrivals.append((sequence, Double(now.tv_sec) + Double(now.tv_nsec) / 1e9))
        }
        received.put(arrivals)
    }
    receiving.start()
    let late = Mailbox<Duration>()
    _ = try await speaker.speak(samples) { late.put($0.maxLate) }
    while received.take() == nil { try await Task.sleep(for: .milliseconds(100)) }
    let arrivals = received.take()!
    for _ in 0..<40 where late.take() == nil { try await Task.sleep(for: .milliseconds(50)) }
    let latest = late.take().map { String(format: "%.3f ms", $0.inMilliseconds) } ?? "unknown"
    // Offsets of each arrival from its schedule (n × 20 ms after the first), against time.
    let first = arrivals[0]
    let points = arrivals.map {
        ($0.seconds - first.seconds, ($0.seconds - first.seconds) - Double($0.sequence - first.sequence) * 0.02)
    }
    let n = Double(points.count)
    let meanX = points.reduce(0) { $0 + $1.0 } / n
    let meanY = points.reduce(0) { $0 + $1.1 } / n
    let slope =
        points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        / points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
    let spread = points.map { abs($0.1 - meanY - slope * ($0.0 - meanX)) }.max() ?? 0
    let last = points.last!
    print(
        "pacing: \(String(format: "%.0f", duration)) s of speech through a relay on 127.0.0.1 (goal: no drift over minutes)"
    )
    print(
        "  \(arrivals.count) of \(frames) frames arrived; after \(String(format: "%.1f", last.0)) s the last one was "
            + "\(String(format: "%.2f", last.1 * 1000)) ms off its schedule; drift \(String(format: "%.2f", slope * 1e6)) ppm; "
            + "largest deviation from the fit \(String(format: "%.2f", spread * 1000)) ms; "
            + "the latest frame left \(latest) after its deadline")
    _ = await speaker.finish()
    close(listener.control)
    close(listener.data)
    await relay.close()
    try await group.shutdownGracefully()
}

/// A value one thread hands to another, once.
final class Mailbox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?

    func put(_ value: Value) { lock.withLock { self.value = value } }
    func take() -> Value? { lock.withLock { value } }
}

if mode == "codec" || mode == "all" { try codec() }
if mode == "relay" || mode == "all" { try await relay() }
if mode == "pacing" || mode == "all" { try await pacing() }
