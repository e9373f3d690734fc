import FuzzDriver

/// The `pcap` fuzz target: libFuzzer over `FuzzTarget.pcap`.
@main
enum Fuzz {
    static func main() { fuzz(.pcap) }
}
