import FuzzDriver

/// The `scenario` fuzz target: libFuzzer over `FuzzTarget.scenario`.
@main
enum Fuzz {
    static func main() { fuzz(.scenario) }
}
