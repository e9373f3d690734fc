import OverlayCore

/// Migration messages as overlay frames, version 1: the overlay envelope
/// (`OverlayProtocol.migration`, version) that sets them apart from the DHT's frames on the same
/// connections, a type, the migration, then the type's fields. Lists carry a count with a limit, so a hostile frame cannot make the decoder
/// allocate without bound.
extension MigrationMessage {
    static let version: UInt8 = 1
    /// A frame carries at most this many operations, and no state larger than the frame limit.
    public static let maximumOperations = 4096
    static let maximumBytes = 65_000

    enum Kind: UInt8 {
        case prepare = 1, accept, refuse, snapshot, operations, acknowledge, commit, tookOver, late, release, abort
        case hostQuery, hostAnswer, follow
    }

    /// `operations` from sequence number `first` on, as as many `operations` messages as it
    /// takes for each to hold at most `maximumOperations` and fit `maximumBytes` (an operation
    /// too large for any frame goes alone, and the receiver refuses it).
    public static func operations(migration: UInt64, first: UInt64, _ operations: [[UInt8]]) -> [MigrationMessage] {
        var messages: [MigrationMessage] = []
        var (start, bytes) = (0, 0)
        for (index, operation) in operations.enumerated() {
            let size = 4 + operation.count
            if index > start, index - start == maximumOperations || bytes + size > maximumBytes {
                messages.append(
                    .operations(
                        migration: migration, first: first + UInt64(start), operations: Array(operations[start..<index])
                    ))
                (start, bytes) = (index, 0)
            }
            bytes += size
        }
        if start < operations.count {
            messages.append(
                .operations(migration: migration, first: first + UInt64(start), operations: Array(operations[start...]))
            )
        }
        return messages
    }

    public var frame: [UInt8] {
        var writer = WireWriter()
        writer.envelope(.migration, version: Self.version)
        func head(_ kind: Kind) {
            writer.integer(kind.rawValue)
            writer.integer(migration)
        }
        func blob(_ bytes: [UInt8]) {
            writer.integer(UInt32(bytes.count))
            writer.append(bytes)
        }
        switch self {
        case .prepare(_, let service, let identity, let epoch, let standbys, let source):
            head(.prepare)
            writer.text(service)
            writer.identity(identity)
            writer.integer(epoch)
            writer.integer(standbys)
            writer.peer(source)
        case .follow(_, let service, let identity, let epoch, let standbys, let primary):
            head(.follow)
            writer.text(service)
            writer.identity(identity)
            writer.integer(epoch)
            writer.integer(standbys)
            writer.peer(primary)
        case .accept(_, let contact, let data):
            head(.accept)
            writer.text(contact)
            writer.text(data)
        case .refuse(_, let reason):
            head(.refuse)
            writer.text(reason)
        case .snapshot(_, let sequence, let size, let state):
            head(.snapshot)
            writer.integer(sequence)
            writer.integer(size)
            blob(state)
        case .operations(_, let first, let operations):
            head(.operations)
            writer.integer(first)
            writer.integer(UInt16(operations.count))
            for operation in operations { blob(operation) }
        case .acknowledge(_, let sequence):
            head(.acknowledge)
            writer.integer(sequence)
        case .commit(_, let sequence, let size, let state):
            head(.commit)
            writer.integer(sequence)
            writer.integer(size)
            blob(state)
        case .tookOver: head(.tookOver)
        case .late(_, let traffic):
            head(.late)
            blob(traffic)
        case .release: head(.release)
        case .abort(_, let reason):
            head(.abort)
            writer.text(reason)
        case .hostQuery(_, let service, let identity, let asker):
            head(.hostQuery)
            writer.text(service)
            writer.identity(identity)
            writer.peer(asker)
        case .hostAnswer(_, let host, let refusal):
            head(.hostAnswer)
            writer.peer(host)
            // An empty refusal is a yes: a refusal always says why.
            writer.text(refusal ?? "")
        }
        return writer.bytes
    }

    public init(frame: [UInt8]) throws(WireError) {
        var reader = WireReader(frame)
        try reader.envelope(.migration, version: Self.version)
        let typeOffset = reader.offset
        let type = try reader.integer(UInt8.self)
        let migration = try reader.integer(UInt64.self)
        func standbys() throws(WireError) -> UInt8 {
            let offset = reader.offset
            let count = try reader.integer(UInt8.self)
            guard count <= WireBounds.standbys else { throw .invalid("\(count) standbys", offset: offset) }
            return count
        }
        func blob() throws(WireError) -> [UInt8] {
            let offset = reader.offset
            let count = Int(try reader.integer(UInt32.self))
            guard count <= Self.maximumBytes else { throw .invalid("\(count) bytes", offset: offset) }
            return Array(try reader.bytes(count))
        }
        switch Kind(rawValue: type) {
        case .prepare?:
            self = .prepare(
                migration: migration, service: try reader.text(limit: 255), identity: try reader.identity(),
                epoch: try reader.epoch(), standbys: try standbys(), source: try reader.peer())
        case .follow?:
            self = .follow(
                migration: migration, service: try reader.text(limit: 255), identity: try reader.identity(),
                epoch: try reader.epoch(), standbys: try standbys(), primary: try reader.peer())
        case .accept?:
            self = .accept(
                migration: migration, contact: try reader.text(limit: 255), data: try reader.text(limit: 255))
        case .refuse?: self = .refuse(migration: migration, reason: try reader.text(limit: 1024))
        case .snapshot?:
            self = .snapshot(
                migration: migration, sequence: try reader.sequence(), size: try reader.integer(), state: try blob())
        case .operations?:
            let first = try reader.sequence()
            let countOffset = reader.offset
            let count = Int(try reader.integer(UInt16.self))
            guard count <= Self.maximumOperations else { throw .invalid("\(count) operations", offset: countOffset) }
            var operations: [[UInt8]] = []
            for _ in 0..<count { operations.append(try blob()) }
            self = .operations(migration: migration, first: first, operations: operations)
        case .acknowledge?: self = .acknowledge(migration: migration, sequence: try reader.sequence())
        case .commit?:
            self = .commit(
                migration: migration, sequence: try reader.sequence(), size: try reader.integer(), state: try blob())
        case .tookOver?: self = .tookOver(migration: migration)
        case .late?: self = .late(migration: migration, traffic: try blob())
        case .release?: self = .release(migration: migration)
        case .abort?: self = .abort(migration: migration, reason: try reader.text(limit: 1024))
        case .hostQuery?:
            self = .hostQuery(
                migration: migration, service: try reader.text(limit: 255), identity: try reader.identity(),
                asker: try reader.peer())
        case .hostAnswer?:
            let host = try reader.peer()
            let refusal = try reader.text(limit: 1024)
            self = .hostAnswer(migration: migration, host: host, refusal: refusal.isEmpty ? nil : refusal)
        case nil: throw .unknownType(type, offset: typeOffset)
        }
        try reader.finish()
    }
}

extension WireWriter {
    fileprivate mutating func identity(_ identity: ServiceIdentity) {
        text(identity.kind)
        integer(identity.version)
        integer(UInt8(identity.digest.count))
        append(identity.digest)
    }

    fileprivate mutating func peer(_ peer: MigrationMessage.Peer) {
        text(peer.name)
        text(peer.overlay)
    }
}

extension WireReader {
    fileprivate mutating func identity() throws(WireError) -> ServiceIdentity {
        let kind = try text(limit: 255)
        let version = try integer(UInt32.self)
        let digestOffset = offset
        let digestLength = Int(try integer(UInt8.self))
        guard digestLength <= 32 else { throw .invalid("digest of \(digestLength) bytes", offset: digestOffset) }
        return ServiceIdentity(kind: kind, version: version, digest: Array(try bytes(digestLength)))
    }

    fileprivate mutating func peer() throws(WireError) -> MigrationMessage.Peer {
        MigrationMessage.Peer(name: try text(limit: 255), overlay: try text(limit: 255))
    }
}
