import Foundation

/// A blocking TCP connection that speaks the overlay's and the services' framing (a 16-bit
/// big-endian length, then the frame), for tests that play a hostile client or peer.
public final class FramedTCP {
    private let socket: CInt

    /// Connects from `from` (a loopback address) to `host:port`; reads give up after `timeout`.
    public init(from: String = "127.0.0.1", to host: String, port: UInt16, timeout: Duration = .seconds(2)) throws {
        socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EMFILE) }
        let microseconds = max(
            1, timeout.components.seconds * 1_000_000 + timeout.components.attoseconds / 1_000_000_000_000)
        var wait = timeval(tv_sec: Int(microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var local = UDPSender.address(from, port: 0)
        var remote = UDPSender.address(host, port: port)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, connected == 0 else {
            close(socket)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(socket) }

    /// Sends one frame (at most 65,535 bytes).
    public func send(_ frame: [UInt8]) {
        let bytes = [UInt8(frame.count >> 8 & 0xFF), UInt8(frame.count & 0xFF)] + frame
        _ = bytes.withUnsafeBytes { Foundation.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The next frame, or nil when the peer closed or said nothing in time.
    public func receive() -> [UInt8]? {
        guard let header = read(2) else { return nil }
        return read(Int(header[0]) << 8 | Int(header[1]))
    }

    private func read(_ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + done, count - done, 0) }
            guard got > 0 else { return nil }
            done += got
        }
        return bytes
    }
}

/// Runs blocking work (sockets, sleeps) on a thread of its own and waits for it: a test's
/// blocking calls must not hold one of the concurrency pool's few threads while peers run.
public func onThread<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}
