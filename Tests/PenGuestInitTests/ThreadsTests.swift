import Foundation
import Glibc
import Testing
@testable import PenGuestInit

/// The init's helper threads never take a process signal: the kernel would otherwise deliver
/// SIGCHLD to a thread that does not block it, and the session loop's signalfd would never see
/// a session's process exit (found in a VM: a refused connection's session hung until another
/// session woke the loop).
@Suite struct ThreadsTests {
    /// The calling thread's blocked-signal mask, from /proc.
    static func blocked() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }) else { return nil }
        return UInt64(line.split(separator: "\t").last.map(String.init) ?? "", radix: 16)
    }

    @Test func aDetachedThreadBlocksSIGCHLDAndTheStopSignals() throws {
        let seen = DispatchSemaphore(value: 0)
        let mask = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { mask.deallocate() }
        mask.pointee = 0
        // A thread inherits its creator's mask: start it from one that blocks nothing, as the init does.
        var none = sigset_t()
        var before = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &before)
        defer { pthread_sigmask(SIG_SETMASK, &before, nil) }
        #expect(Threads.detach {
            mask.pointee = Self.blocked() ?? 0
            seen.signal()
        })
        #expect(seen.wait(timeout: .now() + 10) == .success)
        for signal in [SIGCHLD, SIGTERM, SIGINT, SIGHUP] {
            #expect(mask.pointee & (1 << UInt64(signal - 1)) != 0, "signal \(signal) not blocked")
        }
    }
}
