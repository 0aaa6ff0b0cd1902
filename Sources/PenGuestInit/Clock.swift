// Monotonic time for the stage timings init reports to the host.
import Glibc

func monotonicMicroseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
}

/// Records how long each stage took; sent to the host once the channel is up.
struct StageTimer {
    private(set) var finished: [(name: String, micros: UInt64)] = []
    private var last = monotonicMicroseconds()

    /// The kernel's own time before init started, from the boot clock.
    mutating func markKernel() {
        finished.append(("kernel", last))
    }

    mutating func mark(_ name: String) {
        let now = monotonicMicroseconds()
        finished.append((name, now - last))
        last = now
    }
}
