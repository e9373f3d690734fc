import OverlayCore

/// The overlay's binary wire format for Chord, version 1. A frame (the length prefix is the
/// transport's) is: the overlay envelope (`OverlayProtocol.dht`, version), type (1 byte), the
/// sender, then the type's fields.
/// Integers are big-endian. A node is an address kind (4: IPv4 in 4 bytes; 0: host text with a
/// 16-bit length) and a 16-bit port; its identifier is recomputed, never trusted. Lists carry a
/// count first and have limits, so no frame can make the decoder allocate without bound.
public enum ChordWire {
    public static let version: UInt8 = 1
    /// Limits a decoder enforces.
    public static let maximumSuccessors = 32
    public static let maximumEntries = 4096
    public static let maximumValueBytes = 16384
    public static let maximumHostBytes = 255

    enum MessageType: UInt8 {
        // 6 was a separate notify, which getNeighbours now carries.
        case findSuccessor = 1, successorIs, askNext, getNeighbours, neighbours
        case ping = 7, pong
        case store, stored, replicate, fetch, fetched, leaving, closerSuccessor, unreachable
    }

    public static func encode(_ envelope: ChordEnvelope) -> [UInt8] {
        var writer = WireWriter()
        writer.envelope(.dht, version: version)
        writer.integer(type(of: envelope.message).rawValue)
        writer.node(envelope.sender)
        switch envelope.message {
        case .findSuccessor(let request, let key):
            writer.integer(request)
            writer.append(key.bytes)
        case .successorIs(let request, let node), .askNext(let request, let node):
            writer.integer(request)
            writer.node(node)
        case .getNeighbours(let request), .ping(let request), .pong(let request):
            writer.integer(request)
        case .stored(let request, let accepted):
            writer.integer(request)
            writer.integer(UInt8(accepted ? 1 : 0))
        case .neighbours(let request, let predecessor, let successors):
            writer.integer(request)
            writer.optionalNode(predecessor)
            writer.nodes(successors)
        case .closerSuccessor(let node), .unreachable(let node):
            writer.node(node)
        case .store(let request, let entry):
            writer.integer(request)
            writer.entry(entry)
        case .replicate(let entries):
            writer.entries(entries)
        case .fetch(let request, let key):
            writer.integer(request)
            writer.append(key.bytes)
        case .fetched(let request, let entry):
            writer.integer(request)
            writer.integer(UInt8(entry == nil ? 0 : 1))
            if let entry { writer.entry(entry) }
        case .leaving(let predecessor, let successors, let entries):
            writer.optionalNode(predecessor)
            writer.nodes(successors)
            writer.entries(entries)
        }
        return writer.bytes
    }

    /// The envelope as frames of at most `maximumBytes` each: one, unless it carries more
    /// entries than fit, which are then spread over further `replicate` frames (the receiver
    /// merges entries one by one, so the split changes nothing it keeps).
    public static func frames(_ envelope: ChordEnvelope, maximumBytes: Int) -> [[UInt8]] {
        let entries: [StoredEntry]
        let head: ChordMessage
        switch envelope.message {
        case .replicate(let all):
            (entries, head) = (all, .replicate(entries: []))
        case .leaving(let predecessor, let successors, let all):
            (entries, head) = (all, .leaving(predecessor: predecessor, successors: successors, entries: []))
        default:
            return [encode(envelope)]  // nothing to spread: the transport refuses it if too large, and counts it
        }
        // A receiver takes at most `maximumEntries` in a list: a longer one is spread whatever
        // its size (and its count, 16 bits, could not say more than 65,535).
        if entries.count <= maximumEntries {
            let whole = encode(envelope)
            if whole.count <= maximumBytes { return [whole] }
        }
        func replicate(_ batch: [StoredEntry]) -> [UInt8] {
            encode(ChordEnvelope(sender: envelope.sender, message: .replicate(entries: batch)))
        }
        var frames = [encode(ChordEnvelope(sender: envelope.sender, message: head))]
        let empty = replicate([]).count
        var (batch, size) = ([StoredEntry](), empty)
        for entry in entries {
            let entrySize = encodedSize(of: entry)
            if !batch.isEmpty, size + entrySize > maximumBytes || batch.count == maximumEntries {
                frames.append(replicate(batch))
                (batch, size) = ([], empty)
            }
            batch.append(entry)
            size += entrySize
        }
        if !batch.isEmpty { frames.append(replicate(batch)) }
        return frames
    }

    /// An entry's bytes in a list: key, epoch, lease, length, value.
    static func encodedSize(of entry: StoredEntry) -> Int {
        20 + 8 + 4 + 4 + entry.value.count
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> ChordEnvelope {
        var reader = WireReader(bytes)
        try reader.envelope(.dht, version: Self.version)
        let typeOffset = reader.offset
        let rawType = try reader.integer(UInt8.self)
        guard let type = MessageType(rawValue: rawType) else { throw .unknownType(rawType, offset: typeOffset) }
        let sender = try reader.node()
        let message: ChordMessage =
            switch type {
            case .findSuccessor: .findSuccessor(request: try reader.integer(), key: try reader.id())
            case .successorIs: .successorIs(request: try reader.integer(), node: try reader.node())
            case .askNext: .askNext(request: try reader.integer(), node: try reader.node())
            case .getNeighbours: .getNeighbours(request: try reader.integer())
            case .neighbours:
                .neighbours(
                    request: try reader.integer(), predecessor: try reader.optionalNode(),
                    successors: try reader.nodes())
            case .closerSuccessor: .closerSuccessor(try reader.node())
            case .unreachable: .unreachable(try reader.node())
            case .ping: .ping(request: try reader.integer())
            case .pong: .pong(request: try reader.integer())
            case .store: .store(request: try reader.integer(), entry: try reader.entry())
            case .stored: .stored(request: try reader.integer(), accepted: try reader.presence())
            case .replicate: .replicate(entries: try reader.entries())
            case .fetch: .fetch(request: try reader.integer(), key: try reader.id())
            case .fetched: .fetched(request: try reader.integer(), entry: try reader.optionalEntry())
            case .leaving:
                .leaving(
                    predecessor: try reader.optionalNode(), successors: try reader.nodes(),
                    entries: try reader.entries())
            }
        try reader.finish()
        return ChordEnvelope(sender: sender, message: message)
    }

    static func type(of message: ChordMessage) -> MessageType {
        switch message {
        case .findSuccessor: .findSuccessor
        case .successorIs: .successorIs
        case .askNext: .askNext
        case .getNeighbours: .getNeighbours
        case .neighbours: .neighbours
        case .ping: .ping
        case .pong: .pong
        case .store: .store
        case .stored: .stored
        case .replicate: .replicate
        case .fetch: .fetch
        case .fetched: .fetched
        case .leaving: .leaving
        case .closerSuccessor: .closerSuccessor
        case .unreachable: .unreachable
        }
    }
}

extension WireWriter {
    mutating func node(_ node: NodeRef) {
        if let octets = IPv4Text.octets(node.host) {
            integer(UInt8(4))
            append(octets)
        } else {
            integer(UInt8(0))
            text(node.host)
        }
        integer(node.port)
    }

    mutating func optionalNode(_ node: NodeRef?) {
        integer(UInt8(node == nil ? 0 : 1))
        if let node { self.node(node) }
    }

    mutating func nodes(_ nodes: [NodeRef]) {
        integer(UInt8(nodes.count))
        for node in nodes { self.node(node) }
    }

    mutating func entry(_ entry: StoredEntry) {
        append(entry.key.bytes)
        integer(entry.epoch)
        let (seconds, attoseconds) = entry.lease.components
        integer(UInt32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000))
        integer(UInt32(entry.value.count))
        append(entry.value)
    }

    mutating func entries(_ entries: [StoredEntry]) {
        integer(UInt16(entries.count))
        for entry in entries { self.entry(entry) }
    }
}

extension WireReader {
    mutating func id() throws(WireError) -> ChordID { ChordID(bytes: try bytes(20)) }

    mutating func node() throws(WireError) -> NodeRef {
        let start = offset
        let host: String
        switch try integer(UInt8.self) {
        case 4: host = IPv4Text.text(try bytes(4))
        case 0: host = try text(limit: ChordWire.maximumHostBytes)
        case let kind: throw .invalid("unknown address kind \(kind)", offset: start)
        }
        guard !host.isEmpty else { throw .invalid("empty host", offset: start) }
        return NodeRef(host: host, port: try integer())
    }

    mutating func optionalNode() throws(WireError) -> NodeRef? {
        try presence() ? try node() : nil
    }

    mutating func nodes() throws(WireError) -> [NodeRef] {
        let start = offset
        let count = Int(try integer(UInt8.self))
        guard count <= ChordWire.maximumSuccessors else { throw .invalid("\(count) nodes in a list", offset: start) }
        var nodes: [NodeRef] = []
        for _ in 0..<count { nodes.append(try node()) }
        return nodes
    }

    mutating func entry() throws(WireError) -> StoredEntry {
        let key = try id()
        let epoch = try epoch()
        let leaseOffset = offset
        let milliseconds = try integer(UInt32.self)
        guard Duration.milliseconds(milliseconds) <= WireBounds.lease else {
            throw .invalid("lease of \(milliseconds) ms", offset: leaseOffset)
        }
        let lease = Duration.milliseconds(milliseconds)
        let start = offset
        let length = Int(try integer(UInt32.self))
        guard length <= ChordWire.maximumValueBytes else { throw .invalid("value of \(length) bytes", offset: start) }
        return StoredEntry(key: key, value: Array(try bytes(length)), epoch: epoch, lease: lease)
    }

    mutating func optionalEntry() throws(WireError) -> StoredEntry? {
        try presence() ? try entry() : nil
    }

    mutating func entries() throws(WireError) -> [StoredEntry] {
        let start = offset
        let count = Int(try integer(UInt16.self))
        guard count <= ChordWire.maximumEntries else { throw .invalid("\(count) entries", offset: start) }
        var entries: [StoredEntry] = []
        for _ in 0..<count { entries.append(try entry()) }
        return entries
    }

    mutating func presence() throws(WireError) -> Bool {
        let start = offset
        switch try integer(UInt8.self) {
        case 0: return false
        case 1: return true
        case let flag: throw .invalid("presence flag \(flag)", offset: start)
        }
    }
}

/// Dotted-quad text and its four octets, without the allocations of splitting and joining
/// strings (a node is encoded and decoded in every DHT frame, ten in a successor list).
enum IPv4Text {
    /// The octets of `host` when it is an IPv4 address written canonically (four decimal
    /// numbers up to 255, no leading zeros), so that `text(octets(host)) == host`; else nil.
    static func octets(_ host: String) -> [UInt8]? {
        var octets: [UInt8] = []
        octets.reserveCapacity(4)
        var value = 0
        var digits = 0
        var leadingZero = false
        for byte in host.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard !leadingZero, digits < 3 else { return nil }
                leadingZero = digits == 0 && byte == UInt8(ascii: "0")
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            case UInt8(ascii: "."):
                guard digits > 0, value <= 255, octets.count < 3 else { return nil }
                octets.append(UInt8(value))
                (value, digits, leadingZero) = (0, 0, false)
            default:
                return nil
            }
        }
        guard digits > 0, value <= 255, octets.count == 3 else { return nil }
        octets.append(UInt8(value))
        return octets
    }

    /// `a.b.c.d` for four octets.
    static func text(_ octets: ArraySlice<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(15)
        for (index, octet) in octets.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ".")) }
            if octet >= 100 { text.append(UInt8(ascii: "0") + octet / 100) }
            if octet >= 10 { text.append(UInt8(ascii: "0") + octet / 10 % 10) }
            text.append(UInt8(ascii: "0") + octet % 10)
        }
        return String(decoding: text, as: UTF8.self)
    }
}
