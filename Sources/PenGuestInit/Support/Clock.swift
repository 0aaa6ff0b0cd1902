// Monotonic time for the stage timings init reports to the host.
import Glibc
import PenWire

func monotonicMicroseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
}

/// Records how long each stage took; sent to the host once the channel is up.
struct StageTimer {
    private(set) var finished: [StageTiming] = []
    private var last = monotonicMicroseconds()

    /// The kernel's own time before init started (the monotonic clock starts with the kernel).
    mutating func markKernel() {
        finished.append(StageTiming(.kernelToInit, last))
    }

    mutating func mark(_ stage: BootStage) {
        let now = monotonicMicroseconds()
        finished.append(StageTiming(stage, now - last))
        Console.trace("\(stage.rawValue) done in \((now - last) / 1000) ms")
        last = now
    }
}
