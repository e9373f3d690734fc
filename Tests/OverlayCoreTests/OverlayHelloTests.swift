import OverlayCore
import Testing

/// The first frame of an overlay connection.
struct OverlayHelloTests {
    @Test func aHelloReadsBackAsWritten() throws {
        let hello = OverlayHello(listener: HostPort(host: "10.100.0.2", port: 7000))
        #expect(OverlayProtocol(frame: hello.frame) == .hello)
        #expect(try OverlayHello(frame: hello.frame) == hello)
    }

    @Test(
        arguments: [
            ([], "truncated at byte 0"),
            ([1, 1, 0, 1, 0x41, 0x1B, 0x58], "not a hello frame at byte 0"),
            ([3, 2, 0, 1, 0x41, 0x1B, 0x58], "unsupported wire version 2"),
            ([3, 1, 0, 0, 0x1B, 0x58], "empty host at byte 2"),
            ([3, 1, 0, 1, 0x41, 0x1B], "truncated at byte 6"),
            ([3, 1, 0, 1, 0x41, 0x1B, 0x58, 0], "unexpected bytes after the message, from byte 7"),
            (
                [3, 1, 0x01, 0x00] + [UInt8](repeating: 0x41, count: 256) + [0x1B, 0x58],
                "text of 256 bytes (limit 253) at byte 2"
            ),
        ] as [([UInt8], String)])
    func aFrameThatIsNoHelloSaysWhy(frame: [UInt8], reason: String) {
        #expect(throws: WireError.self) { try OverlayHello(frame: frame) }
        do {
            _ = try OverlayHello(frame: frame)
        } catch {
            #expect(error.description == reason)
        }
    }
}
