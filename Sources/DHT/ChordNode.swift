/// Timers a node asks its host to set; the host hands each back to `fire(_:now:)` when due.
public enum ChordTimer: Hashable, Sendable {
    case stabilize, fixFingers, checkPredecessor, replicate
    /// Ask the bootstrap's ring where this node belongs: two rings a partition left behind
    /// merge through it.
    case checkRing
    /// The answer to this request is overdue: its addressee is taken for dead.
    case timeout(request: UInt64)
}

/// What the node's user (the peer, a test) asks of it.
public enum ChordCommand: Hashable, Sendable {
    /// Start a new ring of one.
    case create
    /// Join the ring `bootstrap` is in.
    case join(via: NodeRef)
    /// Leave gracefully: neighbours get this node's pointers, its successor its keys.
    case leave
    /// Find the successor of `key`; `tag` comes back with the answer.
    case lookup(key: ChordID, tag: UInt64)
    /// Write a value at its key's primary, which copies it to its successors.
    case put(StoredEntry, tag: UInt64)
    /// Read a key's value from its primary.
    case get(key: ChordID, tag: UInt64)
}

/// How a lookup ended: the successor found (nil when every attempt failed), the remote queries
/// it took over all attempts, and the time from the command to the answer.
public struct LookupOutcome: Hashable, Sendable {
    public var node: NodeRef?
    public var hops: Int
    public var latency: Duration
}

/// What the node reports to its user.
public enum ChordEvent: Hashable, Sendable {
    case joined(successor: NodeRef)
    case joinFailed
    case left
    case lookupDone(tag: UInt64, key: ChordID, outcome: LookupOutcome)
    /// `stored` is false when no primary acknowledged the write, or when the primary refused it
    /// (another value holds that epoch, or a higher one).
    case putDone(tag: UInt64, key: ChordID, stored: Bool, outcome: LookupOutcome)
    /// `entry` is nil when the key holds nothing or when no primary answered (`outcome.node`
    /// is then nil).
    case getDone(tag: UInt64, key: ChordID, entry: StoredEntry?, outcome: LookupOutcome)
}

/// What the host must do for the node.
public enum ChordEffect: Hashable, Sendable {
    case send(ChordMessage, to: NodeRef)
    case schedule(ChordTimer, after: Duration)
    case event(ChordEvent)
}

/// One Chord node as a value (Stoica et al., SIGCOMM 2001), without I/O: it takes messages,
/// timer firings and commands, each with the current time, and returns the messages to send,
/// the timers to set and the events to report. Lookups are iterative, so the requester counts
/// the hops; keys live at their successor and are copied to the next r-1 nodes.
public struct ChordNode: Sendable {
    public let me: NodeRef
    public let configuration: ChordConfiguration
    public private(set) var predecessor: NodeRef?
    /// When the predecessor last sent anything: it stabilizes with this node every round, so a
    /// predecessor heard within the check's interval needs no ping.
    var predecessorHeard: Duration = .zero
    /// The successor list, nearest first; `[me]` when alone.
    public private(set) var successors: [NodeRef]
    /// `fingers[i]` is the node believed to succeed me + 2^i.
    public private(set) var fingers: [NodeRef?]
    public private(set) var store = KeyStore()
    public private(set) var phase = Phase.idle
    /// The node this one joined through: the successor of last resort. A node that has just
    /// joined knows no one else, and a lossy link can time out a request or two; forgetting
    /// its only successor would leave it a ring of its own, answering every lookup itself.
    public private(set) var bootstrap: NodeRef?

    /// Where the node is in its life.
    public enum Phase: Hashable, Sendable { case idle, joining, joined, left }

    /// A lookup, read, write, join or finger repair under way.
    struct Operation: Sendable {
        enum Kind: Sendable {
            case lookup, join(via: NodeRef), finger(Int), put(StoredEntry), get
            /// This node's own place, asked of `via` (its bootstrap) rather than its own tables.
            case ringCheck(via: NodeRef)
        }
        var kind: Kind
        var key: ChordID
        var tag: UInt64
        var started: Duration
        var attempt = 1
        var hops = 0
        /// The node that named the one being asked now (nil when it came from our own tables).
        var referrer: NodeRef?
    }

    /// What an outstanding request was for.
    struct Pending: Sendable {
        enum Purpose: Sendable { case lookupStep(UInt64), store(UInt64), fetch(UInt64), stabilize, ping }
        var to: NodeRef
        var purpose: Purpose
    }

    var operations: [UInt64: Operation] = [:]
    var pending: [UInt64: Pending] = [:]
    var nextIdentifier: UInt64 = 1
    var nextFinger = 0
    var now: Duration = .zero
    var outbox: [ChordEffect] = []

    public init(me: NodeRef, configuration: ChordConfiguration = ChordConfiguration()) {
        self.me = me
        self.configuration = configuration
        self.successors = [me]
        self.fingers = Array(repeating: nil, count: ChordID.bits)
    }

    public var successor: NodeRef { successors[0] }

    // MARK: Inputs

    public mutating func command(_ command: ChordCommand, now: Duration) -> [ChordEffect] {
        self.now = now
        switch (command, phase) {
        case (.create, .idle):
            becomeJoined(successor: me)
        case (.join(let bootstrap), .idle):
            phase = .joining
            self.bootstrap = bootstrap
            start(Operation(kind: .join(via: bootstrap), key: me.id, tag: 0, started: now))
        case (.leave, .joined):
            leave()
        case (.lookup(let key, let tag), .joined):
            start(Operation(kind: .lookup, key: key, tag: tag, started: now))
        case (.put(let entry, let tag), .joined):
            start(Operation(kind: .put(entry), key: entry.key, tag: tag, started: now))
        case (.get(let key, let tag), .joined):
            start(Operation(kind: .get, key: key, tag: tag, started: now))
        case (.lookup(let key, let tag), _):
            emit(.lookupDone(tag: tag, key: key, outcome: LookupOutcome(node: nil, hops: 0, latency: .zero)))
        case (.put(let entry, let tag), _):
            emit(.putDone(tag: tag, key: entry.key, stored: false, outcome: .init(node: nil, hops: 0, latency: .zero)))
        case (.get(let key, let tag), _):
            emit(.getDone(tag: tag, key: key, entry: nil, outcome: .init(node: nil, hops: 0, latency: .zero)))
        case (.create, _), (.join, _), (.leave, _):
            break
        }
        return drain()
    }

    public mutating func receive(_ envelope: ChordEnvelope, now: Duration) -> [ChordEffect] {
        self.now = now
        guard phase == .joined || phase == .joining else { return [] }
        let sender = envelope.sender
        if let request = envelope.message.answered, pending[request]?.to != sender {
            return []  // an answer to nothing we asked, or from someone we did not ask
        }
        switch (phase, envelope.message) {
        case (.joining, .successorIs), (.joining, .askNext): break
        case (.joining, _): return []  // not in the ring yet: nothing to answer, nothing to keep
        // A lookup may come from a node still joining, with nothing to offer yet; any other
        // message comes from a member.
        case (_, .findSuccessor): break
        default: heardFrom(sender)
        }
        if sender == predecessor { predecessorHeard = now }
        switch envelope.message {
        case .findSuccessor(let request, let key):
            send(answer(findSuccessor: key, request: request), to: sender)
        case .successorIs(let request, let node):
            if case .lookupStep(let operation)? = pending.removeValue(forKey: request)?.purpose {
                resolved(operation, at: node)
            }
        case .askNext(let request, let node):
            if case .lookupStep(let operation)? = pending.removeValue(forKey: request)?.purpose {
                operations[operation]?.referrer = sender
                query(operation, node)
            }
        case .getNeighbours(let request):
            notified(by: sender)
            send(.neighbours(request: request, predecessor: predecessor, successors: successors), to: sender)
        case .neighbours(let request, let theirPredecessor, let theirSuccessors):
            if case .stabilize? = pending.removeValue(forKey: request)?.purpose {
                stabilize(with: sender, predecessor: theirPredecessor, successors: theirSuccessors)
            }
        case .closerSuccessor(let node):
            heardFrom(node)
        case .unreachable(let node):
            if node != sender { forget(node) }
        case .ping(let request):
            send(.pong(request: request), to: sender)
        case .pong(let request):
            pending[request] = nil
        case .store(let request, let entry):
            let accepted = store.merge(entry, now: now)
            send(.stored(request: request, accepted: accepted), to: sender)
            if accepted {
                replicate([entry])
                // A lookup through a node whose successor pointer lags a join ends here, one node
                // past the key's owner: the predecessor gets the value too, or only copies would
                // hold it and nothing would ever give it back to its owner.
                if let predecessor, predecessor != me, !entry.key.isIn(after: predecessor.id, upTo: me.id) {
                    send(.replicate(entries: [entry]), to: predecessor)
                }
            }
        case .stored(let request, let accepted):
            if case .store(let operation)? = pending.removeValue(forKey: request)?.purpose {
                finish(operation, at: sender, entry: nil, succeeded: true, stored: accepted)
            }
        case .replicate(let entries):
            for entry in entries { store.merge(entry, now: now) }
        case .fetch(let request, let key):
            send(.fetched(request: request, entry: store.entry(key, now: now)), to: sender)
        case .fetched(let request, let entry):
            if case .fetch(let operation)? = pending.removeValue(forKey: request)?.purpose {
                finish(operation, at: sender, entry: entry, succeeded: true)
            }
        case .leaving(let theirPredecessor, let theirSuccessors, let entries):
            departed(sender, predecessor: theirPredecessor, successors: theirSuccessors, entries: entries)
        }
        return drain()
    }

    public mutating func fire(_ timer: ChordTimer, now: Duration) -> [ChordEffect] {
        self.now = now
        switch timer {
        case .timeout(let request):
            if let overdue = pending.removeValue(forKey: request) { failed(overdue) }
        case .stabilize, .fixFingers, .checkPredecessor, .replicate, .checkRing:
            guard phase == .joined else { break }
            maintain(timer)
        }
        return drain()
    }

    /// The host could not reach `node` (connection refused or reset): every request to it fails
    /// now instead of at its timeout.
    public mutating func unreachable(_ node: NodeRef, now: Duration) -> [ChordEffect] {
        self.now = now
        let overdue = pending.filter { $0.value.to == node }
        for (request, entry) in overdue.sorted(by: { $0.key < $1.key }) {
            pending[request] = nil
            failed(entry)
        }
        return drain()
    }

    // MARK: Lookups

    /// The answer to `findSuccessor(key)` from this node's tables.
    func answer(findSuccessor key: ChordID, request: UInt64) -> ChordMessage {
        if let known = locallyResolved(key) { return .successorIs(request: request, node: known) }
        return .askNext(request: request, node: closestPreceding(key))
    }

    /// The successor of `key` when this node knows it without asking anyone.
    func locallyResolved(_ key: ChordID) -> NodeRef? {
        if key.isIn(after: me.id, upTo: successor.id) { return successor }
        let next = closestPreceding(key)
        return next == me ? successor : nil
    }

    /// The known node that most closely precedes `key`: the farthest finger before it, or a
    /// successor-list entry closer still.
    func closestPreceding(_ key: ChordID) -> NodeRef {
        var best: NodeRef?
        for finger in fingers.reversed() {
            if let finger, finger.id.isStrictly(between: me.id, and: key) {
                best = finger
                break
            }
        }
        for candidate in successors where candidate.id.isStrictly(between: me.id, and: key) {
            if best == nil || candidate.id.isStrictly(between: best!.id, and: key) { best = candidate }
        }
        return best ?? me
    }

    mutating func start(_ operation: Operation) {
        let identifier = newIdentifier()
        operations[identifier] = operation
        step(identifier)
    }

    /// The first step of an attempt: the node's own tables, then the closest node it knows.
    mutating func step(_ identifier: UInt64) {
        guard let operation = operations[identifier] else { return }
        operations[identifier]?.referrer = nil
        if case .join(let bootstrap) = operation.kind {
            query(identifier, bootstrap)
        } else if case .ringCheck(let anchor) = operation.kind {
            query(identifier, anchor)
        } else if let known = locallyResolved(operation.key) {
            resolved(identifier, at: known)
        } else {
            query(identifier, closestPreceding(operation.key))
        }
    }

    mutating func query(_ identifier: UInt64, _ node: NodeRef) {
        guard var operation = operations[identifier] else { return }
        guard operation.hops < configuration.maximumHops else { return retry(identifier) }
        operation.hops += 1
        operations[identifier] = operation
        request(.findSuccessor(request: newIdentifier(), key: operation.key), to: node, for: .lookupStep(identifier))
    }

    mutating func resolved(_ identifier: UInt64, at node: NodeRef) {
        guard let operation = operations[identifier] else { return }
        switch operation.kind {
        case .lookup:
            finish(identifier, at: node, entry: nil, succeeded: true)
        case .join:
            operations[identifier] = nil
            becomeJoined(successor: node)
        case .finger(let index):
            operations[identifier] = nil
            learnFinger(index, node)
        case .ringCheck:
            // The bootstrap's ring puts this node before `node`: if that is closer than the
            // successor, the two rings are two, and taking it starts their merge.
            operations[identifier] = nil
            heardFrom(node)
        case .put(let entry):
            if node == me {
                let accepted = store.merge(entry, now: now)
                if accepted { replicate([entry]) }
                finish(identifier, at: me, entry: nil, succeeded: true, stored: accepted)
            } else {
                request(.store(request: newIdentifier(), entry: entry), to: node, for: .store(identifier))
            }
        case .get:
            if node == me {
                finish(identifier, at: me, entry: store.entry(operation.key, now: now), succeeded: true)
            } else {
                request(.fetch(request: newIdentifier(), key: operation.key), to: node, for: .fetch(identifier))
            }
        }
    }

    /// Another attempt from the start, with what the failure taught the tables, or the end.
    mutating func retry(_ identifier: UInt64) {
        guard var operation = operations[identifier] else { return }
        guard operation.attempt < configuration.attempts else {
            return finish(identifier, at: nil, entry: nil, succeeded: false)
        }
        operation.attempt += 1
        operations[identifier] = operation
        step(identifier)
    }

    /// `stored`: for a put, whether the primary kept it (it may refuse what it was sent).
    mutating func finish(
        _ identifier: UInt64, at node: NodeRef?, entry: StoredEntry?, succeeded: Bool, stored: Bool = true
    ) {
        guard let operation = operations.removeValue(forKey: identifier) else { return }
        let outcome = LookupOutcome(
            node: succeeded ? node : nil, hops: operation.hops, latency: now - operation.started)
        switch operation.kind {
        case .lookup: emit(.lookupDone(tag: operation.tag, key: operation.key, outcome: outcome))
        case .put:
            emit(.putDone(tag: operation.tag, key: operation.key, stored: succeeded && stored, outcome: outcome))
        case .get: emit(.getDone(tag: operation.tag, key: operation.key, entry: entry, outcome: outcome))
        case .join:
            phase = .idle
            emit(.joinFailed)
        case .finger, .ringCheck: break
        }
    }

    /// A request went unanswered: its addressee is forgotten and what waited on it moves on.
    mutating func failed(_ request: Pending) {
        forget(request.to)
        switch request.purpose {
        case .lookupStep(let operation):
            // Whoever named the dead node forgets it too, before the retry reaches it.
            if let referrer = operations[operation]?.referrer, referrer != request.to {
                send(.unreachable(request.to), to: referrer)
            }
            retry(operation)
        case .store(let operation), .fetch(let operation):
            retry(operation)
        case .stabilize, .ping:
            break
        }
    }

    // MARK: Ring maintenance

    mutating func becomeJoined(successor: NodeRef) {
        phase = .joined
        successors = [successor]
        emit(.joined(successor: successor))
        if successor != me { askNeighbours(of: successor) }
        schedule(.stabilize, after: configuration.stabilizeInterval)
        schedule(.fixFingers, after: configuration.fixFingersInterval)
        schedule(.checkPredecessor, after: configuration.checkPredecessorInterval)
        schedule(.replicate, after: configuration.replicateInterval)
        // Nodes that joined together would ask their common bootstrap together: each starts at
        // its own point of the interval, from its identifier.
        schedule(.checkRing, after: configuration.checkRingInterval * (Double(me.id.low % 1000) / 1000 + 1))
    }

    mutating func maintain(_ timer: ChordTimer) {
        switch timer {
        case .stabilize:
            schedule(.stabilize, after: configuration.stabilizeInterval)
            if successor == me {
                stabilize(with: me, predecessor: predecessor, successors: successors)
            } else {
                askNeighbours(of: successor)
            }
        case .fixFingers:
            schedule(.fixFingers, after: configuration.fixFingersInterval)
            let index = nextFinger
            start(Operation(kind: .finger(index), key: me.id.addingPowerOfTwo(index), tag: 0, started: now))
        case .checkPredecessor:
            schedule(.checkPredecessor, after: configuration.checkPredecessorInterval)
            if let predecessor, predecessor != me, now - predecessorHeard >= configuration.checkPredecessorInterval {
                request(.ping(request: newIdentifier()), to: predecessor, for: .ping)
            }
        case .replicate:
            schedule(.replicate, after: configuration.replicateInterval)
            store.expire(now: now)
            let owned = store.entries(now: now) { key in
                predecessor.map { key.isIn(after: $0.id, upTo: me.id) } ?? true
            }
            replicate(owned)
        case .checkRing:
            // A partition that healed can leave two rings, each consistent, and stabilization
            // never joins them. The bootstrap is where this node
            // first found the ring: its answer for our own identifier is the node that follows us
            // there, which `heardFrom` takes when it is closer than our successor.
            schedule(.checkRing, after: configuration.checkRingInterval)
            let checking = operations.values.contains { if case .ringCheck = $0.kind { true } else { false } }
            if let bootstrap, bootstrap != me, !checking {
                start(Operation(kind: .ringCheck(via: bootstrap), key: me.id, tag: 0, started: now))
            }
        case .timeout:
            break
        }
    }

    /// Stabilize (the paper's figure 6) with the successor's answer: adopt its predecessor if it
    /// sits between us and take its successor list as ours after it. The paper's notify rides on
    /// every question to a successor (`getNeighbours`).
    mutating func stabilize(with successor: NodeRef, predecessor theirs: NodeRef?, successors list: [NodeRef]) {
        guard successor == self.successor else { return }  // a closer one was found meanwhile
        var updated: [NodeRef] = []
        if let theirs, theirs != me, theirs.id.isStrictly(between: me.id, and: successor.id) { updated.append(theirs) }
        if successor != me { updated.append(successor) }
        for node in list where node != me && !updated.contains(node) { updated.append(node) }
        let adopted = updated.first != nil && updated.first != successor
        successors = updated.isEmpty ? [me] : Array(updated.prefix(configuration.successorListLength))
        // A closer successor was found: ask it at once rather than a round later, so a node
        // that joined far from its place (many joins between two rounds) walks there in one.
        // (The question is also the notify.)
        if adopted, self.successor != me { askNeighbours(of: self.successor) }
    }

    /// Every sender is alive and somewhere on the ring; one between this node and its successor
    /// is a closer successor. Taking it at once undoes the interleaved rings that many joins in one round leave behind,
    /// which stabilization alone never repairs (the Chord paper's "loopy" rings).
    mutating func heardFrom(_ node: NodeRef) {
        guard node != me else { return }
        if node.id.isStrictly(between: me.id, and: successor.id) {
            successors = Array(([node] + successors.filter { $0 != me }).prefix(configuration.successorListLength))
            askNeighbours(of: node)
        }
    }

    /// Stabilization's question, unless it is already on its way to that node.
    mutating func askNeighbours(of node: NodeRef) {
        let asking = pending.values.contains { pending in
            if case .stabilize = pending.purpose { pending.to == node } else { false }
        }
        if !asking { request(.getNeighbours(request: newIdentifier()), to: node, for: .stabilize) }
    }

    mutating func notified(by node: NodeRef) {
        guard node != me, phase == .joined else { return }
        if predecessor == nil || node.id.isStrictly(between: predecessor!.id, and: me.id) {
            if let replaced = predecessor, replaced != node { send(.closerSuccessor(node), to: replaced) }
            predecessor = node
            predecessorHeard = now
            // Keys between the old predecessor and the new one now belong to it.
            let theirs = store.entries(now: now) { !$0.isIn(after: node.id, upTo: me.id) }
            if !theirs.isEmpty { send(.replicate(entries: theirs), to: node) }
        }
        if successor == me { successors = [node] }
    }

    mutating func learnFinger(_ index: Int, _ node: NodeRef) {
        guard node != me else {
            nextFinger = (index + 1) % ChordID.bits
            return
        }
        fingers[index] = node
        var next = index + 1
        // Every later finger whose start also falls before `node` has the same successor.
        while next < ChordID.bits, me.id.addingPowerOfTwo(next).isIn(after: me.id, upTo: node.id) {
            fingers[next] = node
            next += 1
        }
        nextFinger = next % ChordID.bits
    }

    /// Copies entries to the successors that hold replicas (all but the primary, r-1 of them).
    mutating func replicate(_ entries: [StoredEntry]) {
        guard !entries.isEmpty else { return }
        for node in successors.prefix(configuration.successorListLength - 1) where node != me {
            send(.replicate(entries: entries), to: node)
        }
    }

    mutating func leave() {
        let everything = store.entries(now: now) { _ in true }
        if successor != me {
            send(.leaving(predecessor: predecessor, successors: successors, entries: everything), to: successor)
        }
        if let predecessor, predecessor != me, predecessor != successor {
            send(.leaving(predecessor: predecessor, successors: successors, entries: []), to: predecessor)
        }
        phase = .left
        pending = [:]
        operations = [:]
        emit(.left)
    }

    mutating func departed(
        _ node: NodeRef, predecessor theirPredecessor: NodeRef?, successors theirSuccessors: [NodeRef],
        entries: [StoredEntry]
    ) {
        for entry in entries { store.merge(entry, now: now) }
        let wasPredecessor = predecessor == node
        let position = successors.firstIndex(of: node)
        forget(node)
        if wasPredecessor, let theirPredecessor, theirPredecessor != me { predecessor = theirPredecessor }
        if let position {
            // Splice in the leaver's successors after it, keeping our order.
            var updated = Array(successors.prefix(position))
            for candidate in theirSuccessors where candidate != me && candidate != node && !updated.contains(candidate)
            {
                updated.append(candidate)
            }
            for candidate in successors.dropFirst(position) where !updated.contains(candidate) {
                updated.append(candidate)
            }
            successors = updated.isEmpty ? [me] : Array(updated.prefix(configuration.successorListLength))
        }
    }

    /// Removes a node taken for dead (or gone) from every table.
    mutating func forget(_ node: NodeRef) {
        guard node != me else { return }
        if predecessor == node { predecessor = nil }
        for index in fingers.indices where fingers[index] == node { fingers[index] = nil }
        successors.removeAll { $0 == node }
        if successors.isEmpty {
            // Even the bootstrap itself: a lookup that waits on a node that may be gone fails
            // honestly, where a ring of one would answer it wrongly.
            successors = [fingers.lazy.compactMap { $0 }.first ?? predecessor ?? bootstrap ?? me]
        }
    }

    // MARK: Effects

    mutating func request(_ message: ChordMessage, to node: NodeRef, for purpose: Pending.Purpose) {
        guard let identifier = message.request else { return }
        pending[identifier] = Pending(to: node, purpose: purpose)
        send(message, to: node)
        schedule(.timeout(request: identifier), after: configuration.requestTimeout)
    }

    mutating func newIdentifier() -> UInt64 {
        defer { nextIdentifier += 1 }
        return nextIdentifier
    }

    mutating func send(_ message: ChordMessage, to node: NodeRef) { outbox.append(.send(message, to: node)) }
    mutating func schedule(_ timer: ChordTimer, after delay: Duration) { outbox.append(.schedule(timer, after: delay)) }
    mutating func emit(_ event: ChordEvent) { outbox.append(.event(event)) }

    mutating func drain() -> [ChordEffect] {
        defer { outbox = [] }
        return outbox
    }
}
