// The user's terminal in raw mode while it is attached to the guest console.
import Foundation
import CHostSys
import PenWire

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

    public static func windowSize(fd: Int32) -> WindowSize? {
        var rows: UInt16 = 0, cols: UInt16 = 0
        guard pen_get_winsize(fd, &rows, &cols) == 0, rows > 0, cols > 0 else { return nil }
        return WindowSize(rows: rows, cols: cols)
    }
}
