import ControlProtocol

/// When each service shell's data socket was bound, from a run's `bound` events (emitted before
/// the shell can be sent anything). The system may give a shell bound later the port another
/// one closed earlier: what arrives at an address after it was bound again is a new receiver's,
/// and a stream there starts afresh rather than counting as lost what the sender sent elsewhere
/// in between. A bare capture has none, and every address is one receiver throughout. (A
/// client binds its data socket once per service in its peer's life.)
public struct SocketBindings: Sendable, Equatable {
    /// Unix microseconds, ascending, per `ip:port`.
    private var times: [String: [Int64]] = [:]

    public init() {}

    /// The bindings a run's events tell of.
    public init(events: [EventLine]) {
        for line in events {
            if case .bound(_, _, let data) = line.event { add(data, at: line.t.microseconds) }
        }
    }

    /// Notes that `address` (`ip:port`) was bound at `microseconds`.
    public mutating func add(_ address: String, at microseconds: Int64) {
        var known = times[address, default: []]
        known.insert(microseconds, at: known.firstIndex { $0 > microseconds } ?? known.count)
        times[address] = known
    }

    /// Where a receiver at `address` whose packet arrived at `microseconds` ends: the address's
    /// next binding after it, `Int64.max` if none.
    func end(of address: Endpoint, after microseconds: Int64) -> Int64 {
        guard !times.isEmpty, let known = times[address.description] else { return .max }
        return known.first { $0 > microseconds } ?? .max
    }
}
