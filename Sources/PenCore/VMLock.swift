// A running VM holds an exclusive flock on its `lock` file. The lock's open file is also
// inherited by QEMU, so it stays held until both pen and QEMU are gone: a new session can
// never start while an old QEMU still has the disk open.
import Foundation

public final class VMLock {
    public let fd: Int32

    /// Takes the lock without waiting; a held lock means the VM is running.
    public init(path: String, vmName: VMName) throws(PenError) {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == ELOOP { throw PenError("\(path) is a symlink; remove it") }
            throw PenError.system("cannot open \(path)")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            close(fd)
            if err == EWOULDBLOCK {
                throw PenError("VM '\(vmName)' is already running in another pen session: use that session, or stop it first")
            }
            throw PenError.system("cannot lock \(path)", err)
        }
        self.fd = fd
    }

    /// Whether some process holds the lock (the VM is running), without taking it.
    public static func isHeld(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    deinit { close(fd) }
}
