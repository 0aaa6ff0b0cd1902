// What the relay's thread has to tell the supervisor's loop: refusals, for the attached shells,
// and a guest that broke pen.net's framing. Handed over under a lock, bounded (a guest can cause
// a refusal per connection): at most `burst` lines per `window` seconds reach the shells, the
// rest are counted and said as one line; network.log has every one (up to its cap). A pipe wakes
// the loop.
import Foundation

final class RelayNotices: @unchecked Sendable {
    static let burst = 5
    static let window = 10.0

    private let lock = NSLock()
    private var lines: [String] = []
    private var suppressed = 0
    private var windowStart = Date.distantPast
    private var inWindow = 0
    private var fatal: String?
    private let wake = WakePipe()
    /// The loop polls it; a byte there means something was added.
    var wakeRead: Int32 { wake.readEnd }

    /// From the relay's thread: one refusal, in words.
    func refused(_ line: String, now: Date = Date()) {
        lock.lock()
        if now.timeIntervalSince(windowStart) >= Self.window {
            windowStart = now
            inWindow = 0
        }
        if inWindow < Self.burst {
            inWindow += 1
            lines.append(line)
        } else {
            suppressed += 1
        }
        lock.unlock()
        poke()
    }

    /// From the relay's thread: the guest broke the framing; the relay has stopped.
    func failed(_ why: String) {
        lock.lock()
        fatal = fatal ?? why
        lock.unlock()
        poke()
    }

    /// From the loop: what arrived since the last call (the suppressed count said once the
    /// window that held them is over), and the failure if there was one.
    func take(now: Date = Date()) -> (lines: [String], fatal: String?) {
        wake.drain()
        lock.lock()
        defer { lock.unlock() }
        var out = lines
        lines = []
        if suppressed > 0 && now.timeIntervalSince(windowStart) >= Self.window {
            out.append("network: \(suppressed) more connection(s) refused; every one is in network.log")
            suppressed = 0
        }
        let failure = fatal
        fatal = nil
        return (out, failure)
    }

    /// Whether a suppressed count waits for its window to end (the loop wakes for it then).
    var pendingSummaryAt: Date? {
        lock.lock()
        defer { lock.unlock() }
        return suppressed > 0 ? windowStart.addingTimeInterval(Self.window) : nil
    }

    private func poke() { wake.poke() }
}
