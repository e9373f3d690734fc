/// An endpoint as the overlay's protocols, events and reports write it: `host:port`, split at
/// the last colon (the host may be IPv4 or a name; an IPv6 host is written bare, as the peers
/// do). The one reading of that text, so no two places split it differently.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// The endpoint `text` names, or nil when it names none (no colon, an empty host, a port
    /// that is not a number below 65536).
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}
