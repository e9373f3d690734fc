import Foundation

/// A UDP socket bound to a chosen loopback address, for tests that put traffic on a run's
/// network.
public final class UDPSender {
    private let socket: CInt

    public init(bindingTo address: String) throws {
        socket = Foundation.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var local = Self.address(address, port: 0)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard socket >= 0, bound == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
    }

    deinit { close(socket) }

    public func send(_ bytes: [UInt8], to address: String, port: UInt16) {
        var target = Self.address(address, port: port)
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(socket, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    static func address(_ text: String, port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, text, &address.sin_addr)
        return address
    }
}
