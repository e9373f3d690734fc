import CFuzzerDriver
import Glibc
import FuzzTargets

/// The `profile` fuzz target (`FuzzTarget.profile`): libFuzzer's driver, fed by `fuzzOne`.
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
    FuzzTarget.profile.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
