// The current archive entry's data as libarchive delivers it: blocks, each with the offset it
// belongs at (a sparse entry leaves holes between them). Shared by the root tree reader and
// `pen cp`'s extractor, which differ only in where the bytes go.
import CArchive

public enum ArchiveDataBlocks {
    /// Calls `body` with each block (possibly empty) and its offset, until the entry's end.
    /// A libarchive failure, or an offset before the entry's start, is `failed()`'s error.
    public static func forEach<E: Error>(_ a: OpaquePointer, failed: () -> E,
                                         _ body: (UnsafeRawBufferPointer, Int64) throws(E) -> Void) throws(E) {
        while true {
            var block: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let r = archive_read_data_block(a, &block, &size, &offset)
            if r == ARCHIVE_EOF { return }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, offset >= 0 else { throw failed() }
            try body(UnsafeRawBufferPointer(start: size > 0 ? block : nil, count: block == nil ? 0 : size), Int64(offset))
        }
    }
}
