import FuzzDriver

/// The `game` fuzz target: libFuzzer over `FuzzTarget.game`.
@main
enum Fuzz {
    static func main() { fuzz(.game) }
}
