import FuzzDriver

/// The `rtp` fuzz target: libFuzzer over `FuzzTarget.rtp`.
@main
enum Fuzz {
    static func main() { fuzz(.rtp) }
}
