import Scenario

extension StepAction {
    /// One line for the progress display and the `step` event: `crash peer-3`.
    var summary: String {
        switch self {
        case .spawn(let selection): "spawn \(selection.summary)"
        case .leave(let selection): "leave \(selection.summary)"
        case .crash(let selection): "crash \(selection.summary)"
        case .pause(let selection): "pause \(selection.summary)"
        case .resume(let selection): "resume \(selection.summary)"
        case .hostFault(let fault): fault.summary
        case .churn(let spec): "churn for \(spec.duration.inSeconds.formatted(decimals: 1))s"
        case .wait(let condition, let timeout):
            "wait until \(condition.rawValue) (at most \(timeout.inSeconds.formatted(decimals: 1))s)"
        case .stop: "stop"
        case .link(let peer, let profile, let direction): "link \(peer) \(direction.rawValue) \(profile)"
        case .partition(let groups): "partition into \(groups.count) groups"
        case .heal: "heal"
        case .join(let selection, let via): "join \(selection.summary)" + (via.map { " via \($0)" } ?? "")
        case .lookups(let count, let rate, let from):
            "\(count) lookups at \(rate.formatted(decimals: 1))/s from \(from.summary)"
        case .register(let peer, let service, _): "register \(service) at \(peer)"
        case .resolve(let peer, let service): "resolve \(service) from \(peer)"
        case .deploy(let peer, let service, let kind, let replicas):
            "deploy \(service) (\(kind)) on \(peer)" + (replicas > 0 ? " with \(replicas) replicas" : "")
        case .migrate(let service, let target): "migrate \(service) to \(target)"
        case .clients(let spec):
            "\(spec.peers.summary) join \(spec.service)"
                + spec.parameters.sorted { $0.key < $1.key }.map { " \($0.key) \($0.value.text)" }.joined()
        }
    }
}

extension PeerSelection {
    var summary: String {
        switch self {
        case .all: "all"
        case .named(let names): names.map(\.description).joined(separator: ", ")
        case .count(let count): "\(count) new peers"
        }
    }
}

extension Double {
    func formatted(decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (self * scale).rounded() / scale
        return decimals == 0 ? String(Int64(scaled)) : String(scaled)
    }
}

extension ClientParameter.Value {
    var text: String {
        switch self {
        case .text(let text): text
        case .number(let number): number.formatted(decimals: 3)
        }
    }
}
