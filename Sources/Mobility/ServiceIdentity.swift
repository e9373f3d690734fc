/// Mobility says what a migratable service is and how one moves between hosts, without I/O: the
/// identity of its code, the catalogue of kinds a host runs, the migration messages, and the
/// source's and target's state machines. Services keep their state as a snapshot plus an
/// ordered log of operations; Mobility moves both as opaque bytes.

/// Which code a service needs: its kind, the version of its state and operations, and a digest
/// of the code that runs them. A host runs a service only if it has exactly this code.
public struct ServiceIdentity: Sendable, Hashable, CustomStringConvertible {
    public var kind: String
    public var version: UInt32
    /// A digest of the code (SHA-256 in the shipped kinds), 32 bytes at most.
    public var digest: [UInt8]

    public init(kind: String, version: UInt32, digest: [UInt8]) {
        self.kind = kind
        self.version = version
        self.digest = digest
    }

    public var description: String {
        "\(kind) v\(version) (\(digest.prefix(4).map { String($0, radix: 16) }.joined()))"
    }
}

/// The service kinds one host can run.
public struct ServiceCatalogue: Sendable, Equatable {
    public var identities: [ServiceIdentity]

    public init(_ identities: [ServiceIdentity]) { self.identities = identities }

    /// Why a host will not take a service.
    public enum Refusal: Sendable, Equatable, CustomStringConvertible {
        /// It runs no service of this kind.
        case unknownKind(String)
        /// It runs the kind, but other versions of it.
        case otherVersion(wanted: UInt32, have: [UInt32])
        /// It runs the kind and version, with other code.
        case otherCode
        /// It hosts this service already.
        case alreadyHosting(String)

        public var description: String {
            switch self {
            case .unknownKind(let kind): "this host runs no \(kind)"
            case .otherVersion(let wanted, let have):
                "this host runs version \(have.map(String.init).joined(separator: ", ")), not \(wanted)"
            case .otherCode: "this host runs other code for this kind and version"
            case .alreadyHosting(let service): "this host already hosts \(service)"
            }
        }
    }

    /// Nil if this host can run `identity`, else why not.
    public func refusal(for identity: ServiceIdentity) -> Refusal? {
        let sameKind = identities.filter { $0.kind == identity.kind }
        guard !sameKind.isEmpty else { return .unknownKind(identity.kind) }
        let sameVersion = sameKind.filter { $0.version == identity.version }
        guard !sameVersion.isEmpty else {
            return .otherVersion(wanted: identity.version, have: sameKind.map(\.version))
        }
        return sameVersion.contains(identity) ? nil : .otherCode
    }
}
