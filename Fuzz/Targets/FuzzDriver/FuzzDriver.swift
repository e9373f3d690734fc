import CFuzzerDriver
import FuzzTargets
import Glibc

/// The target this executable fuzzes: set once by `fuzz(_:)` before libFuzzer's driver starts,
/// which then calls `fuzzOne` on one thread.
nonisolated(unsafe) private var current = FuzzTarget.pcap

/// Runs libFuzzer's driver over `target` with the process's arguments, and exits with its
/// status. (SwiftPM names an executable's entry point itself, so libFuzzer's own main cannot be
/// the program's; each executable's `main` calls this.)
public func fuzz(_ target: FuzzTarget) -> Never {
    current = target
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    current.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
