import CPcap
import CSpeex
import CSpeexDSP
import Testing

/// The C libraries later capabilities build on are installed, found through pkg-config, and
/// linkable: each answers a real call.
@Suite struct SystemLibraryTests {
    @Test func libpcapAnswers() {
        let version = String(cString: pcap_lib_version())
        #expect(version.hasPrefix("libpcap version"))
    }

    @Test func libspeexAnswers() {
        var version: UnsafePointer<CChar>?
        #expect(speex_lib_ctl(SPEEX_LIB_GET_VERSION_STRING, &version) == 0)
        #expect(version.map { String(cString: $0) }?.isEmpty == false)
    }

    @Test func libspeexdspJitterBufferAnswers() {
        let buffer = jitter_buffer_init(20)
        #expect(buffer != nil)
        jitter_buffer_destroy(buffer)
    }
}
