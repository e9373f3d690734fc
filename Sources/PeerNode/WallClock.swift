import CSeamlessLinux
import ControlProtocol

/// The wall clock events are stamped with: CLOCK_REALTIME, the clock of pcap timestamps.
public enum WallClock {
    public static func now() -> Timestamp {
        Timestamp(microseconds: seamless_realtime_microseconds())
    }
}
