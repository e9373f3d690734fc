import FuzzDriver

/// The `chord` fuzz target: libFuzzer over `FuzzTarget.chord`.
@main
enum Fuzz {
    static func main() { fuzz(.chord) }
}
