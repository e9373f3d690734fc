import ControlProtocol
import NIOCore
import ServiceRuntime
import VoiceRelay
import VoiceWire

/// The voice relay as `ServiceRuntime` runs it.
public typealias RelayShell = ServiceShell<RelayInstance>

extension ServiceShell where Service == RelayInstance {
    /// The relay's state now (participants, sessions, counters).
    public func state() async throws -> RelayState { try await inspect { $0.state } }
}

extension ServiceKind {
    /// The voice relay, hosted by `ServiceRuntime`: who joined and left it, and its traffic
    /// when the peer ends.
    public static let voiceRelay = ServiceKind.of(
        RelayInstance.self,
        events: { service, event in
            switch event {
            case .joined(let participant):
                .membership(
                    service: service, participant: Int(participant.id), name: participant.name, change: "joined")
            case .left(let participant):
                .membership(service: service, participant: Int(participant.id), name: participant.name, change: "left")
            }
        },
        report: { service, relay in traffic(service, relay.state) })

    /// What the relay counted, for the coordinator.
    static func traffic(_ service: String, _ state: RelayState) -> Event {
        VoiceEvent.relayTraffic(
            service: service, received: Int(clamping: state.counters.received),
            forwarded: Int(clamping: state.counters.forwarded),
            forwardedBytes: Int(clamping: state.counters.forwardedBytes),
            unknownSender: Int(clamping: state.counters.droppedUnknownSender),
            malformed: Int(clamping: state.counters.droppedMalformed)
        ).event
    }
}
