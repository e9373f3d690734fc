// What shells and clients share about their channels: endpoints written
// `ip:port`, and how their handlers reach them.

import NIOCore
import OverlayCore

/// Endpoints as the relay protocol and events write them: `ip:port`.
extension SocketAddress {
    /// The address `ip:port` names, or nil when it names none.
    public init?(endpoint: String) {
        guard let parsed = HostPort(endpoint),
            let address = try? SocketAddress(ipAddress: parsed.host, port: Int(parsed.port))
        else { return nil }
        self = address
    }

    /// `ip:port`.
    public var endpoint: String { "\(ipAddress ?? "?"):\(port ?? 0)" }
}

/// Lets channel handlers, created before the shell or client that owns the channel exists,
/// reach it once it does. Set and read on that owner's event loop only.
public final class OwnerSlot<Owner: AnyObject>: @unchecked Sendable {
    public var owner: Owner?

    public init() {}
}
