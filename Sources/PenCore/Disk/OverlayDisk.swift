import CExt2fs
#if canImport(Glibc)
import Glibc
#endif

/// A VM's writable disk: a sparse file holding an ext4 filesystem, made by pen itself
/// through libext2fs (no mkfs process), and read back the same way.
public enum OverlayDisk {
    /// The smallest disk `create` accepts (after rounding down to whole 4 KiB blocks).
    public static let minimumSize: UInt64 = 16 << 20
    /// The largest disk `create` accepts: ext4's file-size limit on a 4 KiB-block host.
    public static let maximumSize: UInt64 = 16 << 40

    /// Creates a sparse ext4 image of `size` bytes (rounded down to a multiple of 4096)
    /// at `path`.
    ///
    /// Fails if anything exists at `path`, a symbolic link included. On any failure it
    /// removes the partial file it created, and nothing else.
    public static func create(at path: String, size: UInt64, label: String = "pen-overlay") throws(PenError) {
        try converting { try create(at: path, size: size, label: label, formatter: Ext4Formatter.format(device:blocks:label:)) }
    }

    /// Lays a filesystem of `blocks` 4 KiB blocks labelled `label` onto `device`.
    typealias Formatter = (_ device: String, _ blocks: UInt64, _ label: String) throws -> Void

    /// `create` with the formatting step replaceable, so tests can make it fail midway.
    static func create(at path: String, size: UInt64, label: String, formatter: Formatter) throws {
        let blockSize = Ext4Formatter.blockSize
        let bytes = size / blockSize * blockSize
        if let problem = sizeProblem(size) {
            throw diskError(path, "size \(describe(size)) is refused: \(problem)", fix: "choose another disk size")
        }
        guard label.utf8.count <= Int(EXT2_LABEL_LEN), !label.utf8.contains(0) else {
            throw diskError(path, "filesystem label \"\(label)\" is longer than 16 bytes",
                            fix: "use a shorter label")
        }

        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw openFailure(path: path, errno: errno) }

        var made = stat()
        guard fstat(fd, &made) == 0 else {
            let code = errno
            close(fd)
            // Without our file's identity we cannot tell it apart from a replacement; a
            // name we just created exclusively is still ours in all but hostile races.
            unlink(path)
            throw diskError(path, "cannot inspect the new file: \(errnoText(code))")
        }

        do {
            guard ftruncate(fd, off_t(bytes)) == 0 else {
                let code = errno
                throw diskError(path, "cannot extend the file to \(describe(bytes)): \(errnoText(code))",
                                fix: code == EFBIG ? "choose a smaller size or another host filesystem"
                                                   : "check free space and quotas on the host filesystem")
            }
            do {
                // libext2fs opens by name; going through our own descriptor's /proc link
                // guarantees it formats exactly the file we just created.
                try formatter("/proc/self/fd/\(fd)", bytes / blockSize, label)
            } catch let failure as Ext2Failure {
                throw formatFailure(path: path, failure)
            }
            guard fsync(fd) == 0 else {
                let code = errno
                throw diskError(path, "cannot flush the new disk: \(errnoText(code))",
                                fix: "check free space on the host filesystem")
            }
        } catch {
            removeIfOurs(path: path, made: made)
            close(fd)
            throw error
        }
        guard close(fd) == 0 else {
            let code = errno
            removeIfOurs(path: path, made: made)
            throw diskError(path, "cannot close the new disk: \(errnoText(code))",
                            fix: "check free space on the host filesystem")
        }
    }

    /// Filesystem usage as recorded in the image's ext4 superblock (read through
    /// libext2fs), not the file's size: bytes in use (metadata and journal included)
    /// and the filesystem's total size.
    ///
    /// For a disk a running VM has mounted, the numbers are as of its last superblock write.
    public static func usage(of path: String) throws(PenError) -> (used: UInt64, total: UInt64) {
        let u = try measure(path)
        return (used: u.used, total: u.total)
    }

    /// `usage` plus the filesystem's own overhead, so callers can tell the user's data
    /// (`data`, what `df` in the guest calls Used) from the journal and inode tables, which
    /// take a couple of hundred MB on an empty 10 GiB disk.
    public static func measure(_ path: String) throws(PenError) -> DiskUsage {
        var opened: ext2_filsys?
        // The superblock only: the group descriptors (their number and size the guest's word)
        // are neither read nor allocated.
        let flags = EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS | EXT2_FLAG_SUPER_ONLY
        let code = ext2fs_open(path, flags, 0, 0, Ext2.unixIO, &opened)
        guard code == 0, let fs = opened else {
            throw readFailure(path: path, code: code == 0 ? errcode_t(EINVAL) : code)
        }
        defer { ext2fs_free(fs) }
        // Every number here was written by the guest: bounded by the disk file before any arithmetic.
        let sb = fs.pointee.super!
        let blockSize = UInt64(fs.pointee.blocksize)
        let blocks = ext2fs_blocks_count(sb)
        var info = stat()
        let fileSize = stat(path, &info) == 0 ? UInt64(max(info.st_size, 0)) : 0
        let (total, overflow) = blocks.multipliedReportingOverflow(by: blockSize)
        guard blockSize > 0, !overflow, total <= fileSize else {
            throw diskError(path, "its superblock claims \(blocks) blocks of \(blockSize) bytes, more than the \(fileSize)-byte disk holds",
                            fix: "check it with `pen vm fsck`")
        }
        let free = min(ext2fs_free_blocks_count(sb), blocks)
        // Recorded by pen's formatter (and mke2fs); 0 when unknown, and then all use counts as data.
        let overhead = min(UInt64(sb.pointee.s_overhead_clusters), blocks)
        return DiskUsage(used: (blocks - free) * blockSize, total: total, overhead: overhead * blockSize)
    }

    // MARK: - Errors

    /// Every disk error names the disk, says what went wrong and, where there is one, the fix.
    static func diskError(_ path: String, _ reason: String, fix: String = "") -> PenError {
        PenError("overlay disk \(path)", cause: reason, fix: fix.isEmpty ? nil : fix)
    }

    private static func openFailure(path: String, errno code: Int32) -> PenError {
        switch code {
        case EEXIST:
            var st = stat()
            let what: String
            if lstat(path, &st) == 0 {
                switch st.st_mode & S_IFMT {
                case S_IFLNK: what = "a symbolic link"
                case S_IFDIR: what = "a directory"
                default: what = "a file"
                }
            } else {
                what = "something"
            }
            return diskError(path, "\(what) already exists there",
                             fix: "pen never overwrites a disk: remove it first or use another VM name")
        default:
            if let (reason, fix) = createFailures[code] { return diskError(path, reason, fix: fix) }
            return diskError(path, "cannot create the file: \(errnoText(code))")
        }
    }

    /// What open(O_CREAT|O_EXCL) failing with an errno means for a new disk, and the fix.
    private static let createFailures: [Int32: (String, String)] = [
        ELOOP: ("the path is a symbolic link", "remove the link; pen does not create disks through symlinks"),
        ENOENT: ("its parent directory does not exist", "create the directory first"),
        ENOTDIR: ("its parent directory does not exist", "create the directory first"),
        EACCES: ("permission denied", "check the owner and permissions of the parent directory"),
        EPERM: ("permission denied", "check the owner and permissions of the parent directory"),
        EROFS: ("the filesystem is read-only", "put pen's state directory on a writable filesystem"),
        ENOSPC: ("no space left on the host filesystem", "free some disk space"),
        EDQUOT: ("no space left on the host filesystem", "free some disk space"),
    ]

    private static func formatFailure(path: String, _ failure: Ext2Failure) -> PenError {
        let fix = Ext2.isOutOfSpace(failure.code)
            ? "free some space on the host filesystem and try again"
            : "this is a bug in pen's disk creation; please report it"
        return diskError(path, "cannot create the ext4 filesystem (\(failure.step)): \(failure.text)",
                         fix: fix)
    }

    private static func readFailure(path: String, code: errcode_t) -> PenError {
        switch code {
        case errcode_t(ENOENT):
            return diskError(path, "no such file",
                             fix: "the VM's disk is missing; recreate the VM")
        case errcode_t(EACCES), errcode_t(EPERM):
            return diskError(path, "permission denied",
                             fix: "run pen as the user who owns the VM")
        default:
            return diskError(path, "cannot read the ext4 superblock: \(Ext2.message(for: code))",
                             fix: "the disk may be damaged; check it with e2fsck -fn or recreate the VM")
        }
    }

    /// Unlinks `path` only if it still names the file we created.
    private static func removeIfOurs(path: String, made: stat) {
        var now = stat()
        guard lstat(path, &now) == 0, now.st_dev == made.st_dev, now.st_ino == made.st_ino else {
            return
        }
        unlink(path)
    }

    private static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// "1 MiB", "10 GiB", or a byte count when the size is not a whole number of units.
    static func describe(_ bytes: UInt64) -> String {
        let units: [(UInt64, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (unit, name) in units where bytes >= unit && bytes % unit == 0 {
            return "\(bytes / unit) \(name)"
        }
        return "\(bytes) bytes"
    }
}
