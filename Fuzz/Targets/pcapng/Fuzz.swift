import FuzzDriver

/// The `pcapng` fuzz target: libFuzzer over `FuzzTarget.pcapng`.
@main
enum Fuzz {
    static func main() { fuzz(.pcapng) }
}
