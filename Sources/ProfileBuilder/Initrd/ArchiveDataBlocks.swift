// The current archive entry's data as libarchive delivers it: blocks, each with the offset it
// belongs at (a sparse entry leaves holes between them). Shared by the root tree reader and
// `pen cp`'s extractor, which differ only in where the bytes go.
import CArchive

public enum ArchiveDataBlocks {
    /// Past any file a Linux filesystem holds (ext4 16 TiB, XFS and btrfs 8 EiB minus a little):
    /// a block beyond it is refused, so offset arithmetic on it can never overflow Int64.
    public static let maxEnd: Int64 = 1 << 62

    /// Calls `body` with each block (possibly empty) and its offset, until the entry's end.
    /// A libarchive failure, an offset before the entry's start or an end past `maxEnd` (a
    /// hostile sparse map) is `failed()`'s error.
    public static func forEach<E: Error>(_ a: OpaquePointer, failed: () -> E,
                                         _ body: (UnsafeRawBufferPointer, Int64) throws(E) -> Void) throws(E) {
        while true {
            var block: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let r = archive_read_data_block(a, &block, &size, &offset)
            if r == ARCHIVE_EOF { return }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, offset >= 0, size >= 0, Int64(size) <= maxEnd,
                  Int64(offset) <= maxEnd - Int64(size) else { throw failed() }
            try body(UnsafeRawBufferPointer(start: size > 0 ? block : nil, count: block == nil ? 0 : size), Int64(offset))
        }
    }
}
