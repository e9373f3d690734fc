import OverlayCore

/// Who is running right now, as the coordinator knows it: the true membership every later
/// judgement (lookups, handoffs) is made against.
actor Membership {
    private var processes: [PeerName: PeerProcess] = [:]
    private var ready: Set<PeerName> = []
    private var paused: Set<PeerName> = []
    private var ended: Set<PeerName> = []

    // The DHT as the coordinator sees it.
    private var overlayAddresses: [PeerName: String] = [:]
    private var inRing: Set<PeerName> = []
    private var epochs: [String: Int] = [:]
    /// Which peer serves each deployed service now, as its events tell.
    private var hosts: [String: PeerName] = [:]
    private var standbys: [String: [PeerName]] = [:]
    private var random: SeededGenerator
    /// True from the first `join` step on: peers that become ready later join by themselves.
    private(set) var dhtInUse = false

    init(seed: UInt64 = 1) { random = SeededGenerator(seed: seed).derived("bootstrap") }

    func add(_ process: PeerProcess) { processes[process.name] = process }

    func becameReady(_ name: PeerName) { ready.insert(name) }

    /// The peer is ready and its overlay listens at `address` (`ip:port`).
    func becameReady(_ name: PeerName, overlay address: String) {
        ready.insert(name)
        overlayAddresses[name] = address
    }

    func startDHT() { dhtInUse = true }
    func joinedRing(_ name: PeerName) { if !ended.contains(name) { inRing.insert(name) } }
    func leftRing(_ name: PeerName) { inRing.remove(name) }
    func isInRing(_ name: PeerName) -> Bool { inRing.contains(name) }
    func overlayAddress(of name: PeerName) -> String? { overlayAddresses[name] }

    /// Running peers in the ring, in name order.
    func ringMembers() -> [PeerName] { inRing.sorted() }

    /// A random ring member's overlay address to join through (not `name` itself).
    func bootstrap(for name: PeerName) -> String? {
        let candidates = inRing.filter { $0 != name }.sorted()
        guard !candidates.isEmpty else { return nil }
        return overlayAddresses[candidates[Int(random.next() % UInt64(candidates.count))]]
    }

    /// For a peer that just became ready: where to join, when the DHT is in use.
    func bootstrapForNewcomer(_ name: PeerName) -> String? {
        dhtInUse ? bootstrap(for: name) : nil
    }

    /// `name` serves `service` now (it deployed it, or took it over).
    func serves(_ service: String, _ name: PeerName) { hosts[service] = name }
    func host(of service: String) -> PeerName? { hosts[service] }

    /// The hot standbys of `service`, as its primary named them last.
    func standbys(of service: String, are names: [PeerName]) { standbys[service] = names }
    func standbys(of service: String) -> [PeerName] { standbys[service] ?? [] }

    /// The epoch the next registration of `service` carries: 1, then one more each time.
    func nextEpoch(of service: String) -> Int {
        epochs[service, default: 0] += 1
        return epochs[service]!
    }

    func setPaused(_ name: PeerName, _ isPaused: Bool) {
        if isPaused { paused.insert(name) } else { paused.remove(name) }
    }

    func isPaused(_ name: PeerName) -> Bool { paused.contains(name) }

    func ended(_ name: PeerName) {
        ended.insert(name)
        ready.remove(name)
        inRing.remove(name)
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
