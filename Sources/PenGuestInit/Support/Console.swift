// Messages from init go to the kernel console (the VM's boot log), never to the user's terminal.
import Glibc
import PenIO

enum Console {
    /// Once devtmpfs is mounted, make fds 0-2 the console even if the kernel found none.
    static func attach() {
        let fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return }
        for target: Int32 in 0...2 where fcntl(target, F_GETFD) == -1 { dup2(fd, target) }
        if fd > 2 { close(fd) }
    }

    /// Set on a debugging boot (see GuestContract.traceVariable).
    nonisolated(unsafe) static var tracing = false

    /// A line for a debugging boot's log only.
    static func trace(_ text: @autoclosure () -> String) {
        if tracing { log("pen-init: " + text()) }
    }

    static func log(_ text: String) {
        writeAll(2, Array((text + "\n").utf8))
    }
}
