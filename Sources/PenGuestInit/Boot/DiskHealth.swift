// Writes the guest could not get onto its disk (the host's filesystem full, an I/O error)
// are otherwise silent: buffered writes succeed and sync(2) reports nothing. syncfs(2) on a
// descriptor opened when the disk was mounted returns any writeback error since then.
import CGuestSys
import Glibc

enum DiskHealth {
    nonisolated(unsafe) private static var mountFD: Int32 = -1

    /// Whether an ext4 disk was mounted (a builder VM's upper layer is a tmpfs).
    static var isWatching: Bool { mountFD >= 0 }

    /// Called right after the disk is mounted.
    static func watch(_ mountPoint: String) {
        mountFD = open(mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }

    /// Flushes the disk; nil when every write since the mount reached it, else the error.
    static func flushErrors() -> String? {
        guard mountFD >= 0 else { return nil }
        guard pen_syncfs(mountFD) == 0 else { return String(cString: strerror(pen_guest_errno())) }
        return nil
    }
}
