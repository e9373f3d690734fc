import OverlayCore

/// Who is running right now, as the coordinator knows it: the true membership every later
/// judgement (lookups, handoffs) is made against.
actor Membership {
    private var processes: [PeerName: PeerProcess] = [:]
    private var ready: Set<PeerName> = []
    private var paused: Set<PeerName> = []
    private var ended: Set<PeerName> = []

    func add(_ process: PeerProcess) { processes[process.name] = process }

    func becameReady(_ name: PeerName) { ready.insert(name) }

    func setPaused(_ name: PeerName, _ isPaused: Bool) {
        if isPaused { paused.insert(name) } else { paused.remove(name) }
    }

    func isPaused(_ name: PeerName) -> Bool { paused.contains(name) }

    func ended(_ name: PeerName) {
        ended.insert(name)
        ready.remove(name)
        paused.remove(name)
    }

    func process(_ name: PeerName) -> PeerProcess? {
        ended.contains(name) ? nil : processes[name]
    }

    /// Processes that have not ended, by name.
    func running() -> [PeerProcess] {
        processes.filter { !ended.contains($0.key) }.sorted { $0.key < $1.key }.map(\.value)
    }

    /// Running peers that have not reported `ready`.
    func notReady() -> [PeerName] {
        processes.keys.filter { !ended.contains($0) && !ready.contains($0) }.sorted()
    }

    var counts: (running: Int, ready: Int) { (processes.count - ended.count, ready.count) }
}
