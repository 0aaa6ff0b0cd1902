// The signals a pen process handles itself, each delivered as one byte on a pipe its poll loop
// watches. Installed once per process, as early as the process needs it: a stop requested while
// a VM is still booting waits in the pipe until the session can act on it.
import CHostSys
import Glibc

public enum SignalPipe {
    /// The read end (non-blocking); the first call installs the handlers.
    public static func shared() throws(PenError) -> Int32 {
        if let fd = installed { return fd }
        let fd = handled.withUnsafeBufferPointer {
            pen_signal_pipe($0.baseAddress, Int32($0.count))
        }
        guard fd >= 0 else { throw PenError.system("cannot install signal handlers") }
        installed = fd
        return fd
    }

    /// The read end if this process installed the handlers, else nil (default dispositions).
    public static var current: Int32? { installed }

    /// The stop signals read from the pipe now (SIGINT, SIGTERM, SIGHUP), in order; others are dropped.
    public static func drainStops(_ fd: Int32) -> [Int32] {
        var stops: [Int32] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            let signal = Int32(byte)
            if signal == SIGINT || signal == SIGTERM || signal == SIGHUP { stops.append(signal) }
        }
        return stops
    }

    /// Puts signals back into the pipe (through the handler), for whoever reads it next.
    public static func redeliver(_ signals: [Int32]) {
        for signal in signals { kill(getpid(), signal) }
    }

    /// Gives the signals back their default actions (a stop then ends pen, as it would any
    /// program): for work that is not a session, such as packing a built image. A stop that
    /// arrived meanwhile is delivered again, now with its default action.
    public static func release() {
        guard let fd = installed else { return }
        let pending = drainStops(fd)
        _ = handled.withUnsafeBufferPointer { pen_signal_pipe_release($0.baseAddress, Int32($0.count)) }
        close(fd)
        installed = nil
        redeliver(pending)
    }

    private static let handled = [SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH]
    nonisolated(unsafe) private static var installed: Int32?
}
