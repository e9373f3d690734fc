import FuzzDriver

/// The `report` fuzz target: libFuzzer over `FuzzTarget.report`.
@main
enum Fuzz {
    static func main() { fuzz(.report) }
}
