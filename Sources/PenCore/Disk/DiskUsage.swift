// How full an overlay disk's filesystem is, from its superblock.

public struct DiskUsage: Equatable, Sendable {
    /// Bytes in use, the filesystem's own metadata and journal included.
    public var used: UInt64
    /// The filesystem's size.
    public var total: UInt64
    /// Bytes the filesystem itself takes (journal, inode tables, bitmaps, descriptors).
    public var overhead: UInt64

    public init(used: UInt64, total: UInt64, overhead: UInt64) {
        self.used = used
        self.total = total
        self.overhead = overhead
    }

    /// Bytes of files and directories: what the guest's `df` reports as Used.
    public var data: UInt64 { used > overhead ? used - overhead : 0 }
}
