// Giving a file's blocks back while it is still open: a build's root tar, once read into the
// scratch spool, need not hold the root on the disk a second time.
import CHostSys

public enum FileHoles {
    /// Frees the blocks of bytes [0, `end`) of `fd` (its size stays). False where the filesystem
    /// cannot (then the bytes simply stay until the file is removed).
    @discardableResult
    public static func punch(_ fd: Int32, upTo end: Int64) -> Bool {
        end <= 0 || pen_punch_hole(fd, 0, end) == 0
    }
}
