// How much a copy out may write: it stops before the destination's filesystem would have less
// than its reserve free — 5 % of the filesystem, at least 64 MiB and at most 1 GiB — so a
// guest sending endless data cannot fill the user's disk. Checked with fstatvfs on the file or
// directory being written, again after every 8 MiB written.
import Foundation
import PenCore

final class SpaceReserve {
    static let checkEvery: UInt64 = 8 << 20

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

    /// The disk filled anyway (another writer): treated like the reserve.
    func failedWriting(_ what: String) -> PenError {
        let err = errno
        if err == ENOSPC || err == EDQUOT { exhausted = true }
        return PenError.system("pen cp: cannot write \(what)", err)
    }
}
