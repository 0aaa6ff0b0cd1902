// Console lines a guest program can cause as often as it likes (each refused connection): at
// most `burst` per `period`; how many were left out is said with the next line that is written.
struct RateLimitedLog {
    let burst: Int
    let period: UInt64  // µs
    private var windowStart: UInt64 = 0
    private var written = 0
    private var suppressed = 0

    init(burst: Int = 5, periodMicros: UInt64 = 10_000_000) {
        self.burst = burst
        period = periodMicros
    }

    /// The line to write now (with a note of those left out before it), or nil to leave it out.
    mutating func admit(_ line: String, now: UInt64) -> String? {
        if now >= windowStart + period {
            windowStart = now
            written = 0
        }
        guard written < burst else {
            suppressed += 1
            return nil
        }
        written += 1
        defer { suppressed = 0 }
        return suppressed > 0 ? "\(line) (\(suppressed) similar lines left out)" : line
    }

    mutating func log(_ line: String, now: UInt64 = monotonicMicroseconds()) {
        if let text = admit(line, now: now) { Console.log(text) }
    }
}
