import DHT

/// A Chord node with the service registry on top, still without I/O: `register`, `resolve` and
/// `unregister` become writes and reads of records at their keys, and the records this node
/// hosts are renewed at a third of their lease. Every Chord input goes through here.
public struct RegistryNode: Sendable {
    public private(set) var chord: ChordNode
    /// The records this node hosts and keeps renewing, by service name.
    public private(set) var hosted: [String: ServiceRecord] = [:]
    /// Registry operations under way, by the Chord tag they use.
    var operations: [UInt64: Operation] = [:]
    var nextTag: UInt64 = Self.internalTags

    /// Chord tags at and above this one belong to the registry; a user's tags stay below.
    public static let internalTags: UInt64 = 1 << 63

    enum Operation: Sendable {
        case register(name: String, tag: UInt64)
        case renew
        case unregister(name: String, tag: UInt64)
        case resolve(name: String, tag: UInt64)
    }

    public enum Command: Hashable, Sendable {
        case chord(ChordCommand)
        /// Host `record` (replacing an older epoch of it) and keep it renewed.
        case register(ServiceRecord, tag: UInt64)
        case resolve(name: String, tag: UInt64)
        /// Stop renewing and leave a tombstone one epoch higher.
        case unregister(name: String, tag: UInt64)
        /// Stop renewing, and write nothing: the service moved to a host that registered it
        /// under a higher epoch.
        case withdraw(name: String)
    }

    public enum Timer: Hashable, Sendable {
        case chord(ChordTimer)
        case renew(name: String)
    }

    public enum Event: Hashable, Sendable {
        case chord(ChordEvent)
        case registered(name: String, epoch: UInt64, stored: Bool, tag: UInt64)
        case unregistered(name: String, stored: Bool, tag: UInt64)
        /// `record` is nil when the name is not registered (or its lease ran out); `outcome.node`
        /// is nil when no primary answered.
        case resolved(name: String, record: ServiceRecord?, outcome: LookupOutcome, tag: UInt64)
    }

    public enum Effect: Hashable, Sendable {
        case send(ChordMessage, to: NodeRef)
        case schedule(Timer, after: Duration)
        case event(Event)
    }

    public init(chord: ChordNode) { self.chord = chord }

    public mutating func command(_ command: Command, now: Duration) -> [Effect] {
        switch command {
        case .chord(let command):
            return translate(chord.command(command, now: now))
        case .register(let record, let tag):
            hosted[record.name] = record
            var effects = put(record, for: .register(name: record.name, tag: tag), now: now)
            effects.append(.schedule(.renew(name: record.name), after: record.lease / 3))
            return effects
        case .unregister(let name, let tag):
            guard let record = hosted.removeValue(forKey: name) else {
                return [.event(.unregistered(name: name, stored: false, tag: tag))]
            }
            let tombstone = ServiceRecord(name: name, hosts: [], epoch: record.epoch + 1, lease: record.lease)
            return put(tombstone, for: .unregister(name: name, tag: tag), now: now)
        case .withdraw(let name):
            hosted.removeValue(forKey: name)
            return []
        case .resolve(let name, let tag):
            let internalTag = newTag(for: .resolve(name: name, tag: tag))
            return translate(chord.command(.get(key: ServiceRecord.key(for: name), tag: internalTag), now: now))
        }
    }

    public mutating func receive(_ envelope: ChordEnvelope, now: Duration) -> [Effect] {
        translate(chord.receive(envelope, now: now))
    }

    public mutating func fire(_ timer: Timer, now: Duration) -> [Effect] {
        switch timer {
        case .chord(let timer):
            return translate(chord.fire(timer, now: now))
        case .renew(let name):
            guard let record = hosted[name], chord.phase == .joined else { return [] }
            var effects = put(record, for: .renew, now: now)
            effects.append(.schedule(.renew(name: name), after: record.lease / 3))
            return effects
        }
    }

    public mutating func unreachable(_ node: NodeRef, now: Duration) -> [Effect] {
        translate(chord.unreachable(node, now: now))
    }

    mutating func put(_ record: ServiceRecord, for operation: Operation, now: Duration) -> [Effect] {
        let tag = newTag(for: operation)
        return translate(chord.command(.put(record.entry, tag: tag), now: now))
    }

    mutating func newTag(for operation: Operation) -> UInt64 {
        defer { nextTag += 1 }
        operations[nextTag] = operation
        return nextTag
    }

    /// Chord effects as registry effects; the answers to the registry's own operations become
    /// registry events.
    mutating func translate(_ effects: [ChordEffect]) -> [Effect] {
        effects.compactMap { effect -> Effect? in
            switch effect {
            case .send(let message, let node): return .send(message, to: node)
            case .schedule(let timer, let delay): return .schedule(.chord(timer), after: delay)
            case .event(let event): return answer(event).map(Effect.event)
            }
        }
    }

    mutating func answer(_ event: ChordEvent) -> Event? {
        switch event {
        case .putDone(let internalTag, _, let stored, _) where internalTag >= Self.internalTags:
            switch operations.removeValue(forKey: internalTag) {
            case .register(let name, let tag)?:
                return .registered(name: name, epoch: hosted[name]?.epoch ?? 0, stored: stored, tag: tag)
            case .unregister(let name, let tag)?:
                return .unregistered(name: name, stored: stored, tag: tag)
            case .renew?, .resolve?, nil:
                return nil
            }
        case .getDone(let internalTag, _, let entry, let outcome) where internalTag >= Self.internalTags:
            guard case .resolve(let name, let tag)? = operations.removeValue(forKey: internalTag) else { return nil }
            let record = entry.flatMap { try? ServiceRecord(entry: $0) }
            return .resolved(
                name: name, record: record?.isTombstone == false && record?.name == name ? record : nil,
                outcome: outcome, tag: tag)
        default:
            return .chord(event)
        }
    }
}
