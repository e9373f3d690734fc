import CFuzzerDriver
import Glibc
import FuzzTargets

/// The `mobility` fuzz target (`FuzzTarget.mobility`): libFuzzer's driver, fed by `fuzzOne`.
@main
enum Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.mobility.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
