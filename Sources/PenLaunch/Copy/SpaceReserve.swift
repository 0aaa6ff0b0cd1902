// How much a copy out may write: it stops before the destination's filesystem would have less
// than its reserve free — 5 % of the filesystem, at least 64 MiB and at most 1 GiB — so a
// guest sending endless data cannot fill the user's disk. Checked with fstatvfs on the file or
// directory being written, again after every 8 MiB written. Inodes too: every entry takes
// one, and the copy stops before fewer than 5 % of the filesystem's inodes are free (at least
// 10,000, at most 1,000,000, at most a quarter of a tiny filesystem's), checked again after
// every 1,024 entries. A filesystem that counts no inodes (btrfs: 0) has no inode reserve.
import Foundation
import PenCore

final class SpaceReserve {
    static let checkEvery: UInt64 = 8 << 20
    static let checkInodesEvery: UInt64 = 1024

    /// The bytes to keep free on a filesystem of `total` bytes.
    static func standard(total: UInt64) -> UInt64 {
        min(1 << 30, max(64 << 20, total / 20))
    }

    /// The inodes to keep free on a filesystem of `total` inodes: 5 %, at least 10,000 and at
    /// most 1,000,000, but never more than a quarter of a tiny filesystem's; none where the
    /// filesystem counts no inodes (btrfs reports 0).
    static func standardInodes(total: UInt64) -> UInt64 {
        min(total / 4, min(1_000_000, max(10_000, total / 20)))
    }

    /// The reserve for a filesystem (its total and available bytes); injectable for tests.
    let keepFree: (_ total: UInt64, _ available: UInt64) -> UInt64
    /// The same for its inodes.
    let keepInodes: (_ total: UInt64, _ available: UInt64) -> UInt64
    /// Set once the reserve stopped the copy (or the disk filled): what it wrote is removed.
    private(set) var exhausted = false
    private var budget: UInt64 = 0
    private var inodeBudget: UInt64 = 0
    /// Every byte charged so far (for tests).
    private(set) var charged: UInt64 = 0

    init(keepFree: @escaping (_ total: UInt64, _ available: UInt64) -> UInt64 = { total, _ in SpaceReserve.standard(total: total) },
         keepInodes: @escaping (_ total: UInt64, _ available: UInt64) -> UInt64 = { total, _ in SpaceReserve.standardInodes(total: total) }) {
        self.keepFree = keepFree
        self.keepInodes = keepInodes
    }

    /// Throws when writing `bytes` more on `fd`'s filesystem would eat into the reserve.
    func willWrite(_ bytes: UInt64, on fd: Int32) throws(PenError) {
        charged += bytes
        if bytes <= budget {
            budget -= bytes
            return
        }
        var fs = statvfs()
        guard fstatvfs(fd, &fs) == 0 else { throw PenError.system("pen cp: cannot check the free space") }
        let total = UInt64(fs.f_blocks) * UInt64(fs.f_frsize)
        let available = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
        let reserve = keepFree(total, available)
        guard available >= reserve, available - reserve >= bytes else {
            exhausted = true
            throw PenError("pen cp: stopped: the copy would leave less than \(ByteSize.format(reserve)) free on the destination's filesystem",
                           fix: "free some space there or copy less")
        }
        budget = min(Self.checkEvery, available - reserve - bytes)
    }

    /// Throws when one more entry (an inode, and a block for it) on `fd`'s filesystem would eat
    /// into either reserve.
    func willCreate(on fd: Int32) throws(PenError) {
        if inodeBudget == 0 {
            var fs = statvfs()
            guard fstatvfs(fd, &fs) == 0 else { throw PenError.system("pen cp: cannot check the free space") }
            let total = UInt64(fs.f_files), available = UInt64(fs.f_favail)
            let reserve = total == 0 ? 0 : keepInodes(total, available)
            if total == 0 {
                inodeBudget = Self.checkInodesEvery
            } else {
                guard available > reserve else {
                    exhausted = true
                    throw PenError("pen cp: stopped: the copy would leave fewer than \(reserve) free inodes (files) on the destination's filesystem",
                                   fix: "free some there or copy fewer files")
                }
                inodeBudget = min(Self.checkInodesEvery, available - reserve)
            }
        }
        inodeBudget -= 1
        try willWrite(UInt64(SparseFileWriter.block), on: fd)
    }

    /// A write or a creation failed: the disk or the quota filled anyway (another writer, or
    /// no reserve) stops the copy like the reserve; anything else is the system's error.
    func failed(_ what: @autoclosure () -> String, _ err: Int32 = errno) -> PenError {
        guard err == ENOSPC || err == EDQUOT else { return PenError.system(what(), err) }
        exhausted = true
        return PenError("pen cp: stopped: the destination's filesystem is full", cause: "\(what()): \(String(cString: strerror(err)))",
                        fix: "free some space there or copy less")
    }
}
