import ControlProtocol
import GameWire
import GameWorld
import ServiceRuntime

extension ServiceKind {
    /// The game server, hosted by `ServiceRuntime`: who joined and left the world, and every
    /// input it applied with the tick it takes effect in (`game-input` events: the service's own
    /// log, which the judge holds against the capture).
    public static let game = ServiceKind.of(
        GameWorld.self,
        events: { service, event in
            switch event {
            case .joined(let player):
                .membership(service: service, participant: Int(player.id), name: player.name, change: "joined")
            case .left(let player):
                .membership(service: service, participant: Int(player.id), name: player.name, change: "left")
            case .inputApplied(let player, let input, let tick):
                GameEvent.inputApplied(service: service, player: Int(player), input: Int(input), tick: Int(tick))
                    .event
            }
        })
}
