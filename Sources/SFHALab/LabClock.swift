#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds: the one clock every lab process (tests, probes in other namespaces, the
/// benchmark) reads, so timestamps written by different processes can be subtracted. (Swift's `ContinuousClock`
/// reads CLOCK_BOOTTIME on Linux, whose instants cannot be compared with a probe's printed times.)
public enum LabClock {
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Milliseconds from `start` to `end` (negative when `end` is earlier).
    public static func milliseconds(from start: UInt64, to end: UInt64) -> Double {
        (Double(end) - Double(start)) / 1_000_000
    }
}
