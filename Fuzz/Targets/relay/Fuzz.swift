import FuzzDriver

/// The `relay` fuzz target: libFuzzer over `FuzzTarget.relay`.
@main
enum Fuzz {
    static func main() { fuzz(.relay) }
}
