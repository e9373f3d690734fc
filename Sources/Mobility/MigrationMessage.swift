import OverlayCore

/// What the two hosts of a migration tell each other, in order over one connection each way.
/// `migration` names one migration; a message for another is ignored.
public enum MigrationMessage: Sendable, Equatable {
    /// Source to target: will you take `service` (this code), to serve it under `epoch`? Answer
    /// `source`.
    /// `standbys`: how many hot standbys the service runs with (the target recruits as many).
    case prepare(
        migration: UInt64, service: String, identity: ServiceIdentity, epoch: UInt64, standbys: UInt8, source: Peer)
    /// Target: yes; clients will reach the service at `contact` (its control address) once it
    /// took over, and send it data at `data`.
    case accept(migration: UInt64, contact: String, data: String)
    /// Target: no, and why.
    case refuse(migration: UInt64, reason: String)
    /// Source: the service's state after `sequence` operations, as the service encodes it
    /// (compressed by the sender; `size` is its size before).
    case snapshot(migration: UInt64, sequence: UInt64, size: UInt32, state: [UInt8])
    /// Source: the operations that followed, `first` being the sequence number of the first.
    case operations(migration: UInt64, first: UInt64, operations: [[UInt8]])
    /// Target: I hold the state through `sequence`.
    case acknowledge(migration: UInt64, sequence: UInt64)
    /// Source: I stopped changing the state at `sequence`; take over when you hold it all. `state`
    /// is the whole state as it froze (compressed; `size` bytes before): what changes without
    /// operations (counters) travels here.
    case commit(migration: UInt64, sequence: UInt64, size: UInt32, state: [UInt8])
    /// Target: I hold it all and serve the service now.
    case tookOver(migration: UInt64)
    /// Source: traffic for the service that reached me after the commit, to be handled once.
    case late(migration: UInt64, traffic: [UInt8])
    /// Source: I dropped the service.
    case release(migration: UInt64)
    /// Either: the migration is off, and why.
    case abort(migration: UInt64, reason: String)
    /// A host looking for a peer to take `service` (this code) asks a candidate, before any
    /// `prepare`: would you take it, under this migration's id? Answer `asker`.
    case hostQuery(migration: UInt64, service: String, identity: ServiceIdentity, asker: Peer)
    /// The candidate's answer: who it is, and why not (nil: it would take the service).
    case hostAnswer(migration: UInt64, host: Peer, refusal: String?)
    /// A primary serving `service` under `epoch` asks a peer to be a hot standby of it, on
    /// replication stream `migration`: answered by `accept` (or `refuse`), then kept current
    /// by `snapshot` and `operations` as a migration's sync phase is, each `acknowledge`d, for
    /// as long as it serves; `release` ends it, `abort` says the standby gave up.
    /// `standbys`: how many the service runs with (a standby that takes over recruits as many).
    case follow(
        migration: UInt64, service: String, identity: ServiceIdentity, epoch: UInt64, standbys: UInt8, primary: Peer)

    /// A peer as migrations name it: its name (for events) and its overlay address
    /// (`ip:port`, where its migration frames go).
    public struct Peer: Sendable, Equatable {
        public var name: String
        public var overlay: String

        public init(name: String, overlay: String) {
            self.name = name
            self.overlay = overlay
        }
    }

    public var migration: UInt64 {
        switch self {
        case .prepare(let id, _, _, _, _, _), .follow(let id, _, _, _, _, _), .accept(let id, _, _), .refuse(let id, _),
            .snapshot(let id, _, _, _),
            .operations(let id, _, _), .acknowledge(let id, _), .commit(let id, _, _, _), .tookOver(let id),
            .late(let id, _), .release(let id), .abort(let id, _), .hostQuery(let id, _, _, _),
            .hostAnswer(let id, _, _):
            id
        }
    }
}
