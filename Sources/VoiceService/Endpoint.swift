import NIOCore

/// Endpoints as the relay protocol and events write them: `ip:port`.
extension SocketAddress {
    /// The address `ip:port` names, or nil when it names none.
    init?(endpoint: String) {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]),
            let address = try? SocketAddress(ipAddress: String(endpoint[..<colon]), port: port)
        else { return nil }
        self = address
    }

    /// `ip:port`.
    var endpoint: String { "\(ipAddress ?? "?"):\(port ?? 0)" }
}
