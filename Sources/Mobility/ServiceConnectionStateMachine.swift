/// A client's persistent connection to a service (MobileSocket's idea), as a value: it holds a
/// session that outlives control channels, numbers the client's requests and keeps each until
/// the service says it was applied, and moves: on a redirect it opens a channel to the new host
/// and resumes there before it lets the old one go; when a channel breaks without a redirect it
/// resolves the service again and resumes, with backoff; and when the service falls silent (its
/// host hung, or cut off, with the channel still open) it asks with a `ping`, and after
/// `silentChecks` checks without a word (or without an answer to its open or resume on a new
/// channel) it gives the channel up as broken, and tries the service's hot standbys before the
/// registry. A standby that took the service over says so (`TakeoverNotice`); the connection
/// follows it at once, but only to a standby its service named. The application
/// sends requests and receives pushes; it never sees a move.
public struct ServiceConnectionStateMachine: Sendable {
    public typealias Channel = Int

    public enum Timer: Sendable, Hashable {
        /// Time to resolve the service again.
        case backoff
        /// Requests not yet applied go out again.
        case resend
        /// Has the service said anything since the last check?
        case liveness
    }

    public struct Settings: Sendable, Equatable {
        public var firstBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(2)
        public var resendInterval: Duration = .milliseconds(250)
        /// How often a ready channel is checked for a word from the service (a `ping` goes out
        /// when there was none), and after how many silent checks in a row it counts as broken:
        /// 1.5 s, so a host that hung is left after a few of TCP's retransmission timeouts on
        /// `mobile` (0.4 s median), not at the first one.
        public var livenessInterval: Duration = .milliseconds(500)
        public var silentChecks = 3

        public init() {}
    }

    public enum Input: Sendable, Equatable {
        case start
        /// The registry's answer: the service's control address, or nil.
        case resolved(control: String?)
        case connected(Channel)
        /// The channel could not be opened, or it broke.
        case closed(Channel)
        case message(Channel, SessionMessage)
        /// The application sends a request.
        case send(body: [UInt8])
        /// A `DataRedirect` from `from`: the service takes data at `to` now.
        case dataMoved(from: String, to: String)
        /// A `TakeoverNotice` from `from` (`ip:port`): a standby serves the service now.
        case takeover(from: String, TakeoverNotice)
        case timerFired(Timer)
    }

    public enum Output: Sendable, Equatable {
        case resolve
        case connect(Channel, to: String)
        case close(Channel)
        case transmit(Channel, SessionMessage)
        case setTimer(Timer, after: Duration)
        /// Send data to this address from now on.
        case useData(String)
        /// A push from the service, for the application.
        case deliver(body: [UInt8])
        /// The connection moved to another host (a redirect followed, or a new channel after a
        /// break).
        case moved(control: String)
    }

    public let client: String
    public let settings: Settings
    public private(set) var session: (id: SessionID, token: SessionToken)?
    /// The channel requests go on, and whether its session is ready; the channel being opened
    /// to the host a redirect named.
    public private(set) var current: (channel: Channel, control: String, ready: Bool)?
    public private(set) var moving: (channel: Channel, control: String)?
    public private(set) var data: String?
    /// Where data went before the last move: that host sends on what still reached it.
    public private(set) var previousData: String?
    /// The service's hot standbys, as it last named them; those tried since the last ready
    /// channel.
    public private(set) var standbys: [StandbyAddress] = []
    private var triedStandbys: Set<String> = []
    /// Requests sent and not yet applied, in order.
    public private(set) var unapplied: [(sequence: UInt64, body: [UInt8])] = []
    private var nextSequence: UInt64 = 1
    private var lastChannel: Channel = 0
    private var backoff: Duration
    private var resolving = false
    /// A redirect whose channel could not be opened, to try again after the backoff.
    private var redirectTo: String?
    private var resendSet = false
    /// The service said something on the current channel since the last liveness check, and
    /// how many checks in a row found nothing; whether the check is set.
    private var heard = false
    private var silentChecks = 0
    private var livenessSet = false

    /// Whether a datagram from `sender` (`ip:port`) is the service's: from where data goes now,
    /// from where it went before the last move, or from a hot standby the service named. The
    /// client plays nothing else (anyone could send it RTP).
    public func expects(dataFrom sender: String) -> Bool {
        sender == data || sender == previousData || standbys.contains { $0.data == sender }
    }

    private mutating func moveData(to address: String) -> [Output] {
        previousData = data
        data = address
        return [.useData(address)]
    }

    public init(client: String, settings: Settings = Settings()) {
        self.client = client
        self.settings = settings
        backoff = settings.firstBackoff
    }

    public mutating func handle(_ input: Input) -> [Output] {
        switch input {
        case .start:
            resolving = true
            return [.resolve]
        case .resolved(let control):
            resolving = false
            guard current == nil, moving == nil else { return [] }
            guard let control else { return retryLater() }
            lastChannel += 1
            current = (lastChannel, control, false)
            return [.connect(lastChannel, to: control)]
        case .connected(let channel):
            guard channel == current?.channel || channel == moving?.channel else { return [.close(channel)] }
            var outputs: [Output] = [
                .transmit(channel, session.map { .resume(session: $0.id, token: $0.token) } ?? .open(client: client))
            ]
            if channel == current?.channel {
                // A host that takes the connection and then says nothing (it hung) is left too.
                heard = false
                silentChecks = 0
                outputs += armLiveness()
            }
            return outputs
        case .closed(let channel):
            if let moving, channel == moving.channel {
                self.moving = nil
                // The new host did not answer: the old channel still carries the session, so try
                // the new host again after a backoff (the old one forwards until then).
                if current != nil { redirectTo = moving.control }
                return retryLater()
            }
            guard channel == current?.channel else { return [] }
            current = nil
            redirectTo = nil
            if let moving {
                current = (moving.channel, moving.control, false)
                self.moving = nil
                return []
            }
            // One of the standbys may serve it now; the registry after them.
            if let next = standbys.first(where: { !triedStandbys.contains($0.control) }) {
                triedStandbys.insert(next.control)
                lastChannel += 1
                current = (lastChannel, next.control, false)
                return [.connect(lastChannel, to: next.control)]
            }
            return retryLater()
        case .message(let channel, let message):
            return receive(message, on: channel)
        case .send(let body):
            unapplied.append((nextSequence, body))
            nextSequence += 1
            var outputs: [Output] = []
            if let current, current.ready {
                outputs.append(.transmit(current.channel, .request(sequence: nextSequence - 1, body: body)))
            }
            return outputs + armResend()
        case .dataMoved(let from, let to):
            // Only the host data goes to may send it elsewhere (anyone else could steal the
            // stream with one datagram).
            guard from == data, !to.isEmpty, to != data else { return [] }
            return moveData(to: to)
        case .takeover(let from, let notice):
            let standby = StandbyAddress(control: notice.control, data: notice.data)
            guard standbys.contains(standby), from == notice.data, notice.control != current?.control,
                notice.control != moving?.control
            else { return [] }
            // Data goes there at once; the session resumes on a channel to it, as after a redirect.
            var outputs: [Output] = []
            if data != notice.data { outputs += moveData(to: notice.data) }
            lastChannel += 1
            if current == nil {
                current = (lastChannel, notice.control, false)
            } else {
                redirectTo = nil
                moving = (lastChannel, notice.control)
            }
            return outputs + [.connect(lastChannel, to: notice.control)]
        case .timerFired(.backoff):
            if let control = redirectTo, current != nil, moving == nil {
                redirectTo = nil
                lastChannel += 1
                moving = (lastChannel, control)
                return [.connect(lastChannel, to: control)]
            }
            guard current == nil, moving == nil, !resolving else { return [] }
            resolving = true
            return [.resolve]
        case .timerFired(.liveness):
            livenessSet = false
            guard let current else { return [] }
            if heard {
                heard = false
                silentChecks = 0
                return armLiveness()
            }
            silentChecks += 1
            guard silentChecks >= settings.silentChecks else {
                // A channel not ready yet waits for the answer to its open or resume.
                let ask: [Output] =
                    current.ready ? [.transmit(current.channel, .ping(nonce: UInt64(silentChecks)))] : []
                return ask + armLiveness()
            }
            // Nothing for the whole bound: the host is gone though its channel is not; find the
            // service again, as after a break.
            silentChecks = 0
            return [.close(current.channel)] + handle(.closed(current.channel))
        case .timerFired(.resend):
            resendSet = false
            guard let current, current.ready, !unapplied.isEmpty else { return armResend() }
            return unapplied.map { .transmit(current.channel, .request(sequence: $0.sequence, body: $0.body)) }
                + armResend()
        }
    }

    private mutating func receive(_ message: SessionMessage, on channel: Channel) -> [Output] {
        guard channel == current?.channel || channel == moving?.channel else { return [] }
        if channel == current?.channel { heard = true }
        switch message {
        case .ready(let id, let token, let applied, let dataAddress):
            session = (id, token)
            triedStandbys = []
            unapplied.removeAll { $0.sequence <= applied }
            backoff = settings.firstBackoff
            var outputs: [Output] = []
            if channel == moving?.channel, let moving {
                // Make before break: the new host is ready, now let the old channel go.
                if let old = current { outputs.append(.close(old.channel)) }
                current = (moving.channel, moving.control, true)
                self.moving = nil
                outputs.append(.moved(control: moving.control))
            } else if let current, !current.ready {
                self.current = (current.channel, current.control, true)
            }
            if data != dataAddress { outputs += moveData(to: dataAddress) }
            silentChecks = 0
            return outputs + unapplied.map { .transmit(channel, .request(sequence: $0.sequence, body: $0.body)) }
                + armResend() + armLiveness()
        case .unknownSession:
            // The session is gone with the host that held it: start a new one and number the
            // requests not yet applied in it.
            session = nil
            unapplied = unapplied.enumerated().map { (UInt64($0.offset + 1), $0.element.body) }
            nextSequence = UInt64(unapplied.count + 1)
            return [.transmit(channel, .open(client: client))]
        case .applied(let sequence):
            unapplied.removeAll { $0.sequence <= sequence }
            return []
        case .redirect(let control, let dataAddress):
            guard moving == nil, control != current?.control else { return [] }
            redirectTo = nil
            lastChannel += 1
            moving = (lastChannel, control)
            // The new host serves already: data goes there now, not after the session resumed
            // (the old host would forward it, one hop later, for a round trip or two).
            guard !dataAddress.isEmpty, dataAddress != data else { return [.connect(lastChannel, to: control)] }
            return moveData(to: dataAddress) + [.connect(lastChannel, to: control)]
        case .push(let body):
            return [.deliver(body: body)]
        case .standbys(let list):
            if channel == current?.channel || channel == moving?.channel { standbys = list }
            return []
        case .pong, .open, .resume, .request, .ping:
            return []
        }
    }

    private mutating func retryLater() -> [Output] {
        let delay = backoff
        backoff = min(settings.maximumBackoff, backoff * 2)
        return [.setTimer(.backoff, after: delay)]
    }

    private mutating func armLiveness() -> [Output] {
        guard !livenessSet else { return [] }
        livenessSet = true
        return [.setTimer(.liveness, after: settings.livenessInterval)]
    }

    private mutating func armResend() -> [Output] {
        guard !resendSet, !unapplied.isEmpty else { return [] }
        resendSet = true
        return [.setTimer(.resend, after: settings.resendInterval)]
    }
}
