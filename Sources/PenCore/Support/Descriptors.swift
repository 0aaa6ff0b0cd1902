// Descriptors pen opened for one job, closed together when the job is done (or fails halfway),
// so an early throw never leaks one.
import Foundation
import CHostSys

public final class Descriptors {
    private var open: Set<Int32> = []

    public init() {}

    deinit { closeAll() }

    /// Takes ownership of `fd`.
    @discardableResult
    public func adopt(_ fd: Int32) -> Int32 {
        open.insert(fd)
        return fd
    }

    /// A socketpair (AF_UNIX, stream, close-on-exec), both ends owned.
    public func socketPair(_ what: String) throws(PenError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard pen_socketpair(&fds) == 0 else { throw PenError.system("cannot create the \(what) channel") }
        return (adopt(fds[0]), adopt(fds[1]))
    }

    /// open(2) without following a symlink at `path`, owned.
    public func openNoFollow(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(PenError) -> Int32 {
        adopt(try SafeFiles.openNoFollow(path, flags, mode: mode))
    }

    /// A new open file description of what `fd` is open on (through /proc/self/fd, which names
    /// that file itself, whatever its path now leads to), owned. `what` names it in errors.
    public func reopen(_ fd: Int32, _ flags: Int32, what: String) throws(PenError) -> Int32 {
        let copy = Glibc.open("/proc/self/fd/\(fd)", flags | O_CLOEXEC)
        guard copy >= 0 else { throw PenError.system("cannot reopen \(what)") }
        return adopt(copy)
    }

    /// Gives up ownership of `fd` without closing it.
    public func release(_ fd: Int32) -> Int32 {
        open.remove(fd)
        return fd
    }

    public func close(_ fd: Int32) {
        if open.remove(fd) != nil { Glibc.close(fd) }
    }

    public func closeAll() {
        for fd in open { Glibc.close(fd) }
        open = []
    }
}
