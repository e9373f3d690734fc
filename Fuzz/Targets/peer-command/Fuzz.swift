import FuzzDriver

/// The `peer-command` fuzz target: libFuzzer over `FuzzTarget.peerCommand`.
@main
enum Fuzz {
    static func main() { fuzz(.peerCommand) }
}
