import Logging
import OverlayCore

/// The peer's command line, as `testbed` writes it: `--name peer-N --address A` and optional
/// `--option value` pairs. Parsed by hand: swift-argument-parser builds its model of a command
/// by reflection, and with it a peer took 25-27 ms of CPU from start to shutdown, 19.6-20.1
/// without (medians of 40, `Benchmarks/peer-startup.py`), paid 1,000 times when 1,000 peers
/// start at once.
struct PeerArguments {
    var name: PeerName
    var address: String
    var tcpPort = 0
    var udpPort = 0
    /// Exit at once if the parent is already another process.
    var coordinatorPid: Int32?
    // The DHT's settings in seconds: each left out keeps the DHT's own default.
    var stabilizeInterval: Double?
    var fixFingersInterval: Double?
    var checkPredecessorInterval: Double?
    var replicateInterval: Double?
    var requestTimeout: Double?
    /// Successor list length, and copies of each key.
    var successors: Int?
    /// The seed of every random draw the peer makes.
    var seed: UInt64 = 1
    var logLevel: Logger.Level = .info

    static let usage = """
        USAGE: peer --name <peer-N> --address <address> [options]

        Run one Seamless overlay peer, driven over stdin/stdout (JSON Lines) by the testbed.

        OPTIONS:
          --name <peer-N>                     The peer's name.
          --address <address>                 The IP address to bind the overlay sockets on.
          --tcp-port <port>                   The overlay TCP port (0: any; default 0).
          --udp-port <port>                   The overlay UDP port (0: any; default 0).
          --coordinator-pid <pid>             Exit at once if the parent is already another process.
          --stabilize-interval <seconds>      DHT: seconds between stabilization rounds.
          --fix-fingers-interval <seconds>    DHT: seconds between finger repairs (one finger each).
          --check-predecessor-interval <s>    DHT: seconds between checks of the predecessor.
          --replicate-interval <seconds>      DHT: seconds between replication rounds.
          --request-timeout <seconds>         DHT: seconds a request waits for its answer.
          --successors <n>                    DHT: successor list length, and copies of each key.
          --seed <n>                          The seed of every random draw the peer makes.
          --log-level <level>                 trace, debug, info, notice, warning, error, critical.
          --help                              Show this text.
        """

    /// What is wrong with a command line, in a sentence.
    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    init(name: PeerName, address: String) {
        self.name = name
        self.address = address
    }

    /// The arguments `arguments` (the program's name left out) give; nil when they ask for
    /// `--help`.
    static func parse(_ arguments: [String]) throws(UsageError) -> PeerArguments? {
        var name: PeerName?
        var address: String?
        var parsed = PeerArguments(name: PeerName(index: 1), address: "")
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let option = arguments[index]
            if option == "--help" || option == "-h" { return nil }
            let valueIndex = arguments.index(after: index)
            guard option.hasPrefix("--") else { throw UsageError(description: "unexpected argument '\(option)'") }
            guard valueIndex < arguments.endIndex else { throw UsageError(description: "\(option) needs a value") }
            let value = arguments[valueIndex]
            index = arguments.index(after: valueIndex)
            func number<T: LosslessStringConvertible>(_: T.Type) throws(UsageError) -> T {
                guard let parsed = T(value) else {
                    throw UsageError(description: "\(option) takes a number, not '\(value)'")
                }
                return parsed
            }
            func interval() throws(UsageError) -> Double {
                let seconds = try number(Double.self)
                guard seconds >= 0.01 && seconds <= 3600 else {
                    throw UsageError(description: "\(option): DHT intervals are seconds from 0.01 to 3600")
                }
                return seconds
            }
            func port() throws(UsageError) -> Int {
                let port = try number(Int.self)
                guard (0...65535).contains(port) else {
                    throw UsageError(description: "\(option) must be in 0...65535")
                }
                return port
            }
            switch option {
            case "--name":
                guard let parsed = PeerName(value) else {
                    throw UsageError(description: "--name must be peer-N, not '\(value)'")
                }
                name = parsed
            case "--address": address = value
            case "--tcp-port": parsed.tcpPort = try port()
            case "--udp-port": parsed.udpPort = try port()
            case "--coordinator-pid": parsed.coordinatorPid = try number(Int32.self)
            case "--stabilize-interval": parsed.stabilizeInterval = try interval()
            case "--fix-fingers-interval": parsed.fixFingersInterval = try interval()
            case "--check-predecessor-interval": parsed.checkPredecessorInterval = try interval()
            case "--replicate-interval": parsed.replicateInterval = try interval()
            case "--request-timeout": parsed.requestTimeout = try interval()
            case "--successors":
                let count = try number(Int.self)
                guard (1...32).contains(count) else {
                    throw UsageError(description: "--successors must be from 1 to 32")
                }
                parsed.successors = count
            case "--seed": parsed.seed = try number(UInt64.self)
            case "--log-level":
                guard let level = Logger.Level(rawValue: value) else {
                    throw UsageError(
                        description: "--log-level must be one of trace, debug, info, notice, warning, error, critical")
                }
                parsed.logLevel = level
            default: throw UsageError(description: "unknown option '\(option)'")
            }
        }
        guard let name else { throw UsageError(description: "missing --name") }
        guard let address else { throw UsageError(description: "missing --address") }
        parsed.name = name
        parsed.address = address
        return parsed
    }
}
