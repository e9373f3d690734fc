import Testing

@testable import ControlProtocol

@Suite struct PeerCommandTests {
    @Test(arguments: [
        PeerCommand.ping(id: 42), .leave, .shutdown, .join(bootstrap: "127.100.0.1:7000"), .join(bootstrap: nil),
        .lookup(key: String(repeating: "a1", count: 20)), .register(service: "voice", epoch: 3, leaseSeconds: 30),
        .resolve(service: "voice"), .deploy(service: "voice", kind: "voice-relay"),
        .voiceClient(
            service: "voice", speak: "Testbed/audio/reference.wav", from: 8, length: 8, recordings: "/tmp/run/audio",
            band: "wideband", quality: 8),
        .voiceClient(
            service: "voice", speak: nil, from: 0, length: nil, recordings: "/r", band: "narrowband", quality: 0),
        .migrate(service: "voice", to: "peer-5", address: "127.100.0.5:7000"),
    ])
    func roundTrip(command: PeerCommand) throws {
        let line = command.line
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false)
        #expect(try PeerCommand(line: line.dropLast()) == command)
    }

    @Test func exactWireForm() {
        #expect(PeerCommand.ping(id: 7).line == "{\"command\":\"ping\",\"id\":7}\n")
        #expect(PeerCommand.leave.line == "{\"command\":\"leave\"}\n")
    }

    @Test(arguments: [
        ("not json", PeerCommand.DecodingError.notAnObject("not valid JSON")),
        ("[1,2]", .notAnObject("expected a JSON object")),
        ("{\"id\":3}", .missingCommand),
        ("{\"command\":3}", .missingCommand),
        ("{\"command\":\"fly\"}", .unknownCommand("fly")),
        ("{\"command\":\"ping\"}", .badField(command: "ping", field: "id")),
        ("{\"command\":\"ping\",\"id\":1.5}", .badField(command: "ping", field: "id")),
        ("{\"command\":\"ping\",\"id\":\"1\"}", .badField(command: "ping", field: "id")),
        ("{\"command\":\"join\",\"bootstrap\":7}", .badField(command: "join", field: "bootstrap")),
        ("{\"command\":\"lookup\",\"key\":\"abc\"}", .badField(command: "lookup", field: "key")),
        (
            "{\"command\":\"register\",\"service\":\"v\",\"epoch\":1}",
            .badField(command: "register", field: "leaseSeconds")
        ),
        (
            "{\"command\":\"register\",\"service\":\"v\",\"epoch\":-1,\"leaseSeconds\":5}",
            .badField(command: "register", field: "epoch")
        ),
        ("{\"command\":\"resolve\"}", .badField(command: "resolve", field: "service")),
        ("{\"command\":\"deploy\",\"service\":\"v\"}", .badField(command: "deploy", field: "kind")),
        (
            "{\"command\":\"migrate\",\"service\":\"v\",\"to\":\"peer-2\"}",
            .badField(command: "migrate", field: "address")
        ),
        (
            "{\"command\":\"voice-client\",\"service\":\"v\",\"recordings\":\"/r\",\"band\":\"wideband\",\"quality\":11,\"from\":0}",
            .badField(command: "voice-client", field: "quality")
        ),
        (
            "{\"command\":\"voice-client\",\"service\":\"v\",\"recordings\":\"/r\",\"band\":\"wideband\",\"quality\":8,\"from\":-1}",
            .badField(command: "voice-client", field: "from")
        ),
        (
            "{\"command\":\"voice-client\",\"service\":\"v\",\"speak\":\"\",\"recordings\":\"/r\"}",
            .badField(command: "voice-client", field: "speak")
        ),
    ])
    func malformedLinesAreTypedErrors(line: String, expected: PeerCommand.DecodingError) {
        #expect(throws: expected) { try PeerCommand(line: line) }
    }

    @Test func errorsReadAsPlainSentences() {
        #expect(PeerCommand.DecodingError.unknownCommand("fly").description == "unknown command 'fly'")
    }
}
