// One specific process, held by a pidfd: signals sent through it can never reach a process
// that later reuses the pid, and the pidfd turns readable when the process exits.
import Foundation
import CHostSys

public final class ProcessHandle {
    public let pid: pid_t
    private let fd: Int32

    /// Fails when the process no longer exists (ESRCH) or pidfds are unavailable (kernel < 5.3).
    public init(pid: pid_t) throws(PenError) {
        let fd = pen_pidfd_open(pid)
        guard fd >= 0 else { throw PenError.system("cannot open process \(pid)", pen_errno()) }
        self.pid = pid
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends `signal` to exactly this process. Succeeds quietly when it has already exited.
    public func send(_ signal: Int32) throws(PenError) {
        if pen_pidfd_send_signal(fd, signal) != 0 {
            let err = pen_errno()
            if err == ESRCH { return }
            throw PenError.system("cannot signal process \(pid)", err)
        }
    }

    /// Waits up to `seconds` for the process to exit; true once it has.
    public func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let millis = Int32(min(max(0, deadline.timeIntervalSinceNow), 3600) * 1000)
            let n = poll(&p, 1, millis)
            if n > 0 { return true }
            if n < 0 && errno != EINTR { return false }
            if deadline.timeIntervalSinceNow <= 0 { return false }
        }
    }
}
