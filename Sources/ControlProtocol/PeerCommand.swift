import OverlayCore

/// ControlProtocol is the only thing the coordinator (`testbed`) and a peer process share:
/// commands go to a peer's stdin and events come from its stdout, one JSON object per line
/// (JSON Lines). Keeping the overlay's own sockets free of control traffic means the capture
/// holds only what the overlay really sent.

/// A command from the coordinator to one peer: `{"command":"leave"}`.
public enum PeerCommand: Sendable, Equatable {
    /// Answer with `pong` carrying the same id (liveness and round-trip checks).
    case ping(id: Int)
    /// Leave the overlay gracefully, then exit.
    case leave
    /// The run is over: exit now.
    case shutdown
    /// Join the DHT through the peer listening at `bootstrap` (`ip:port`); without one, start a
    /// ring of one.
    case join(bootstrap: String?)
    /// Look up the successor of a key (40 hex digits); answered by a `lookup` event.
    case lookup(key: String)
    /// Register this peer as the host of `service` in the registry, and keep renewing it.
    case register(service: String, epoch: Int, leaseSeconds: Double)
    /// Resolve `service` in the registry; answered by a `resolved` event.
    case resolve(service: String)
    /// Start a service of `kind` under the name `service` on this peer and register it, with
    /// `replicas` hot standbys on other peers (0: none); answered by `deployed` or
    /// `service-failed`.
    case deploy(service: String, kind: String, replicas: Int = 0)
    /// Be a client of `service`, a service of `kind` found through the registry, as the kind's
    /// client reads `parameters` (it validates them, and reports what it refuses in
    /// `service-failed`); what it writes goes into the folder `folder`. A client that already
    /// joined takes new parameters (a voice client speaks them).
    case client(service: String, kind: String, folder: String, parameters: [String: JSONValue])
    /// Move `service`, hosted on this peer, to the peer `to` whose overlay listener is at
    /// `address` (`ip:port`); each side reports every phase in a `migration-phase` event.
    case migrate(service: String, to: String, address: String)
    /// Fault injection: when this peer's next migration of `service` reaches `phase` (a
    /// `migration-phase` name), exactly then, crash (`action` `crash`: SIGKILL this process) or
    /// hang (`pause`: SIGSTOP it).
    case faultAt(service: String, phase: String, action: String)

    /// A service runs with at most this many hot standbys.
    public static let maximumReplicas = Int(WireBounds.standbys)

    /// Why a command line was rejected; the peer reports it in an `error` event and goes on.
    public enum DecodingError: Error, Equatable, CustomStringConvertible {
        /// The line is not a JSON object.
        case notAnObject(String)
        /// The object has no string `command` member.
        case missingCommand
        /// The command is not one this protocol version knows.
        case unknownCommand(String)
        /// A member the command needs is missing or has the wrong type.
        case badField(command: String, field: String)

        public var description: String {
            switch self {
            case .notAnObject(let detail): "malformed command line: \(detail)"
            case .missingCommand: "command line has no \"command\" member"
            case .unknownCommand(let name): "unknown command '\(name)'"
            case .badField(let command, let field): "command '\(command)' needs a valid \"\(field)\""
            }
        }
    }

    /// Decodes one line (without its newline).
    public init(line: some StringProtocol) throws(DecodingError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            throw .notAnObject("not valid JSON")
        }
        guard case .object = value else { throw .notAnObject("expected a JSON object") }
        guard let name = value["command"]?.string else { throw .missingCommand }
        switch name {
        case "ping":
            guard let id = value["id"]?.double, let exact = Int(exactly: id) else {
                throw .badField(command: name, field: "id")
            }
            self = .ping(id: exact)
        case "leave": self = .leave
        case "shutdown": self = .shutdown
        case "join":
            switch value["bootstrap"] {
            case nil, .null?: self = .join(bootstrap: nil)
            case .string(let address)?: self = .join(bootstrap: address)
            default: throw .badField(command: name, field: "bootstrap")
            }
        case "lookup":
            guard let key = value["key"]?.string, key.utf8.count == 40, key.allSatisfy(\.isHexDigit) else {
                throw .badField(command: name, field: "key")
            }
            self = .lookup(key: key)
        case "register":
            guard let service = value["service"]?.string, !service.isEmpty else {
                throw .badField(command: name, field: "service")
            }
            guard let epoch = value["epoch"]?.double.flatMap({ Int(exactly: $0) }), epoch >= 0,
                UInt64(epoch) <= WireBounds.epoch
            else {
                throw .badField(command: name, field: "epoch")
            }
            guard let lease = value["leaseSeconds"]?.double, lease > 0, .seconds(lease) <= WireBounds.lease else {
                throw .badField(command: name, field: "leaseSeconds")
            }
            self = .register(service: service, epoch: epoch, leaseSeconds: lease)
        case "resolve":
            guard let service = value["service"]?.string, !service.isEmpty else {
                throw .badField(command: name, field: "service")
            }
            self = .resolve(service: service)
        case "deploy":
            guard let service = value["service"]?.string, !service.isEmpty else {
                throw .badField(command: name, field: "service")
            }
            guard let kind = value["kind"]?.string, !kind.isEmpty else { throw .badField(command: name, field: "kind") }
            let replicas = value["replicas"].map(\.integer) ?? 0
            guard let replicas, (0...Self.maximumReplicas).contains(replicas) else {
                throw .badField(command: name, field: "replicas")
            }
            self = .deploy(service: service, kind: kind, replicas: replicas)
        case "client":
            guard let service = value["service"]?.string, !service.isEmpty else {
                throw .badField(command: name, field: "service")
            }
            guard let kind = value["kind"]?.string, !kind.isEmpty else { throw .badField(command: name, field: "kind") }
            guard let folder = value["folder"]?.string, !folder.isEmpty else {
                throw .badField(command: name, field: "folder")
            }
            guard case .object(let parameters)? = value["parameters"] else {
                throw .badField(command: name, field: "parameters")
            }
            self = .client(service: service, kind: kind, folder: folder, parameters: parameters)
        case "migrate":
            guard let service = value["service"]?.string, !service.isEmpty else {
                throw .badField(command: name, field: "service")
            }
            guard let to = value["to"]?.string, !to.isEmpty else { throw .badField(command: name, field: "to") }
            guard let address = value["address"]?.string, address.contains(":") else {
                throw .badField(command: name, field: "address")
            }
            self = .migrate(service: service, to: to, address: address)
        case "fault-at":
            guard let service = value["service"]?.string, !service.isEmpty else {
                throw .badField(command: name, field: "service")
            }
            guard let phase = value["phase"]?.string, !phase.isEmpty else {
                throw .badField(command: name, field: "phase")
            }
            guard let action = value["action"]?.string, ["crash", "pause"].contains(action) else {
                throw .badField(command: name, field: "action")
            }
            self = .faultAt(service: service, phase: phase, action: action)
        default: throw .unknownCommand(name)
        }
    }

    /// The command as one line, newline included.
    public var line: String {
        let members: [String: JSONValue] =
            switch self {
            case .ping(let id): ["command": .string("ping"), "id": .number(Double(id))]
            case .leave: ["command": .string("leave")]
            case .shutdown: ["command": .string("shutdown")]
            case .join(let bootstrap):
                ["command": .string("join"), "bootstrap": bootstrap.map(JSONValue.string) ?? .null]
            case .lookup(let key): ["command": .string("lookup"), "key": .string(key)]
            case .register(let service, let epoch, let lease):
                [
                    "command": .string("register"), "service": .string(service), "epoch": .number(Double(epoch)),
                    "leaseSeconds": .number(lease),
                ]
            case .resolve(let service): ["command": .string("resolve"), "service": .string(service)]
            case .deploy(let service, let kind, let replicas):
                ["command": .string("deploy"), "service": .string(service), "kind": .string(kind)]
                    .merging(replicas > 0 ? ["replicas": .int(replicas)] : [:]) { $1 }
            case .client(let service, let kind, let folder, let parameters):
                [
                    "command": .string("client"), "service": .string(service), "kind": .string(kind),
                    "folder": .string(folder), "parameters": .object(parameters),
                ]
            case .migrate(let service, let to, let address):
                [
                    "command": .string("migrate"), "service": .string(service), "to": .string(to),
                    "address": .string(address),
                ]
            case .faultAt(let service, let phase, let action):
                [
                    "command": .string("fault-at"), "service": .string(service), "phase": .string(phase),
                    "action": .string(action),
                ]
            }
        return JSONValue.object(members).serialized + "\n"
    }
}
