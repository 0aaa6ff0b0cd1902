// A pipe that wakes a poll loop from another thread: one end polled, the other poked. Both ends
// non-blocking: a poke into a full pipe is dropped (a wake-up is already waiting), a drain never
// waits.
import CHostSys
import Glibc
import PenIO

final class WakePipe: @unchecked Sendable {
    /// The end a loop polls for POLLIN.
    let readEnd: Int32
    private let writeEnd: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        _ = pen_pipe(&fds)
        setNonBlocking(fds[0])
        setNonBlocking(fds[1])
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    func poke() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Takes every wake-up waiting.
    func drain() {
        var sink = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &sink, sink.count) > 0 {}
    }
}
