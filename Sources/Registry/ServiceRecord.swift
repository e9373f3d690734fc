import DHT
import OverlayCore

/// A service's entry in the registry: where it runs now. A new host writes a higher epoch
/// (the higher epoch wins everywhere); the host renews the lease, and a record whose lease ran
/// out is gone. A record with no hosts is a tombstone: the service was unregistered.
public struct ServiceRecord: Hashable, Sendable {
    public var name: String
    /// Addresses (`ip:port`) of the service's host, then of the standbys its claim kept.
    public var hosts: [String]
    public var epoch: UInt64
    /// How long the record lives without a renewal; a resolved record carries what is left.
    public var lease: Duration

    public init(name: String, hosts: [String], epoch: UInt64, lease: Duration) {
        self.name = name
        self.hosts = hosts
        self.epoch = epoch
        self.lease = lease
    }

    /// Where the record lives on the ring.
    public static func key(for name: String) -> ChordID { .hashing("service:" + name) }

    static let formatVersion: UInt8 = 1
    static let maximumHosts = 16

    /// The record as a stored value: version, name, hosts (each text with a 16-bit length).
    public var entry: StoredEntry {
        var writer = WireWriter()
        writer.integer(Self.formatVersion)
        writer.text(name)
        writer.integer(UInt8(hosts.count))
        for host in hosts { writer.text(host) }
        return StoredEntry(key: Self.key(for: name), value: writer.bytes, epoch: epoch, lease: lease)
    }

    /// The record a stored value holds; malformed values and values stored under another name's
    /// key are errors.
    public init(entry: StoredEntry) throws(WireError) {
        var reader = WireReader(entry.value)
        try reader.version(Self.formatVersion)
        let name = try reader.text(limit: 1024)
        let countOffset = reader.offset
        let count = Int(try reader.integer(UInt8.self))
        guard count <= Self.maximumHosts else { throw .invalid("\(count) hosts", offset: countOffset) }
        var hosts: [String] = []
        for _ in 0..<count { hosts.append(try reader.text(limit: 255)) }
        try reader.finish()
        guard Self.key(for: name) == entry.key else {
            throw .invalid("record for \(name) under another key", offset: 1)
        }
        self.init(name: name, hosts: hosts, epoch: entry.epoch, lease: entry.lease)
    }

    public var isTombstone: Bool { hosts.isEmpty }
}
