import FuzzDriver

/// The `mobility` fuzz target: libFuzzer over `FuzzTarget.mobility`.
@main
enum Fuzz {
    static func main() { fuzz(.mobility) }
}
