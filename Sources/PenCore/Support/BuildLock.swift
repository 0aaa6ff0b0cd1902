// An exclusive flock for work that must happen once at a time (building an image): held for the
// life of the value; a second pen waits, saying so once.
import Foundation

public final class BuildLock {
    let fd: Int32

    public init(path: String, waiting: () -> Void) throws(PenError) {
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let err = errno
            try SafeFiles.refuseSymlink(path)
            throw PenError.system("cannot open \(path)", err)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            waiting()
            guard flock(fd, LOCK_EX) == 0 else {
                let err = errno
                close(fd)
                throw PenError.system("cannot lock \(path)", err)
            }
        }
    }

    private init(fd: Int32) { self.fd = fd }

    /// The lock if nobody holds it now, else nil (never waits).
    public static func attempt(path: String) -> BuildLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return BuildLock(fd: fd)
    }

    deinit { close(fd) }
}
