import FuzzDriver

/// The `profile` fuzz target: libFuzzer over `FuzzTarget.profile`.
@main
enum Fuzz {
    static func main() { fuzz(.profile) }
}
