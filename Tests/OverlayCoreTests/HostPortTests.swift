import OverlayCore
import Testing

/// `host:port` text read one way everywhere.
struct HostPortTests {
    @Test(
        arguments: [
            ("127.0.0.1:7000", "127.0.0.1", 7000), ("peer-3:1", "peer-3", 1), ("10.100.0.2:65535", "10.100.0.2", 65535),
        ] as [(String, String, UInt16)])
    func aHostPortReadsBackAsWritten(text: String, host: String, port: UInt16) throws {
        let endpoint = try #require(HostPort(text))
        #expect(endpoint.host == host && endpoint.port == port)
        #expect(endpoint.description == text)
    }

    @Test(arguments: ["", "7000", ":7000", "host:", "host:port", "host:65536", "host:-1", "host:7000 "])
    func textThatNamesNoHostPortIsRefused(text: String) {
        #expect(HostPort(text) == nil)
    }
}
