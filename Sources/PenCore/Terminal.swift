// The user's terminal in raw mode while it is attached to the guest console.
import Foundation
import CHostSys

public final class RawTerminal {
    private let fd: Int32
    private var saved = termios()
    private var active = false

    /// Switches fd to raw mode when it is a terminal; nil otherwise.
    public init?(fd: Int32) {
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
        self.fd = fd
        var raw = saved
        cfmakeraw(&raw)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
        active = true
    }

    /// Restores the saved mode; safe to call more than once.
    public func restore() {
        if active {
            tcsetattr(fd, TCSANOW, &saved)
            active = false
        }
    }

    deinit { restore() }

    public static func windowSize(fd: Int32) -> (rows: UInt16, cols: UInt16)? {
        var rows: UInt16 = 0, cols: UInt16 = 0
        guard pen_get_winsize(fd, &rows, &cols) == 0, rows > 0, cols > 0 else { return nil }
        return (rows, cols)
    }
}

/// Writes every byte to fd (retrying short writes and EINTR/EAGAIN). False on error.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 1000)
                continue
            }
            return false
        }
        done += n
    }
    return true
}
