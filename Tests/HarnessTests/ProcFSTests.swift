import Foundation
import Testing

@testable import Harness

/// Reading fields of /proc's key-value files.
struct ProcFSTests {
    @Test(
        arguments: [
            ("Name:\tpeer\nVmHWM:\t   23292 kB\nVmRSS:\t    1 kB\n", "VmHWM:", 23292),
            ("VmHWM:\t7 kB\n", "VmHWM:", 7),
            ("Rss:  100 kB\nPss:   2410 kB\nPss_Anon: 5 kB\n", "Pss:", 2410),
            ("Pss_Anon: 5 kB\n", "Pss:", nil),
            ("Name:\tpeer\n", "VmHWM:", nil),
            ("VmHWM:\t kB\n", "VmHWM:", nil),
        ] as [(String, String, Int?)])
    func aFieldIsTheNumberAfterItsName(text: String, name: String, value: Int?) {
        #expect(ProcFS.field(name, in: text) == value)
    }

    @Test func thisProcessHasAPeakResidentSize() throws {
        let peak = try #require(ProcFS.peakResidentKB(of: getpid()))
        #expect(peak > 1000)
    }
}
