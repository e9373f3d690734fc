import Testing

@testable import ControlProtocol

@Suite struct PeerCommandTests {
    @Test(arguments: [
        PeerCommand.ping(id: 42), .leave, .shutdown, .join(bootstrap: "127.100.0.1:7000"), .join(bootstrap: nil),
        .lookup(key: String(repeating: "a1", count: 20)), .register(service: "voice", epoch: 3, leaseSeconds: 30),
        .resolve(service: "voice"), .deploy(service: "voice", kind: "voice-relay"),
        .deploy(service: "voice", kind: "voice-relay", replicas: 2),
        .client(
            service: "voice", kind: "voice-relay", folder: "/tmp/run/audio",
            parameters: ["speak": .string("Testbed/audio/reference.wav"), "from": .number(8), "for": .number(8)]),
        .client(service: "world", kind: "game", folder: "/r", parameters: [:]),
        .migrate(service: "voice", to: "peer-5", address: "127.100.0.5:7000"),
        .faultAt(service: "voice", phase: "sync", action: "pause"),
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
        (
            "{\"command\":\"register\",\"service\":\"v\",\"epoch\":281474976710657,\"leaseSeconds\":5}",
            .badField(command: "register", field: "epoch")
        ),
        (
            "{\"command\":\"register\",\"service\":\"v\",\"epoch\":1,\"leaseSeconds\":3601}",
            .badField(command: "register", field: "leaseSeconds")
        ),
        ("{\"command\":\"resolve\"}", .badField(command: "resolve", field: "service")),
        ("{\"command\":\"deploy\",\"service\":\"v\"}", .badField(command: "deploy", field: "kind")),
        (
            "{\"command\":\"deploy\",\"service\":\"v\",\"kind\":\"k\",\"replicas\":9}",
            .badField(command: "deploy", field: "replicas")
        ),
        (
            "{\"command\":\"deploy\",\"service\":\"v\",\"kind\":\"k\",\"replicas\":1.5}",
            .badField(command: "deploy", field: "replicas")
        ),
        (
            "{\"command\":\"migrate\",\"service\":\"v\",\"to\":\"peer-2\"}",
            .badField(command: "migrate", field: "address")
        ),
        (
            "{\"command\":\"client\",\"service\":\"v\",\"folder\":\"/r\",\"parameters\":{}}",
            .badField(command: "client", field: "kind")
        ),
        (
            "{\"command\":\"client\",\"service\":\"v\",\"kind\":\"game\",\"parameters\":{}}",
            .badField(command: "client", field: "folder")
        ),
        (
            "{\"command\":\"client\",\"service\":\"v\",\"kind\":\"game\",\"folder\":\"/r\",\"parameters\":[]}",
            .badField(command: "client", field: "parameters")
        ),
    ])
    func malformedLinesAreTypedErrors(line: String, expected: PeerCommand.DecodingError) {
        #expect(throws: expected) { try PeerCommand(line: line) }
    }

    @Test func errorsReadAsPlainSentences() {
        #expect(PeerCommand.DecodingError.unknownCommand("fly").description == "unknown command 'fly'")
    }
}
