import FuzzDriver

/// The `event-line` fuzz target: libFuzzer over `FuzzTarget.eventLine`.
@main
enum Fuzz {
    static func main() { fuzz(.eventLine) }
}
