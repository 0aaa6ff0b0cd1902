// Thin RAII wrapper around a libarchive read handle, shared by the .deb reader,
// the bzImage decompressor and the .ko.xz/.ko.zst decompressor.
import CArchive

/// A libarchive failure, carrying libarchive's own message so the user sees the real cause.
/// Owns one `struct archive *` opened for reading and frees it on deinit,
/// so early returns and thrown errors never leak libarchive state.
final class KernelArchiveReader {
    let handle: OpaquePointer
    let context: String

    /// `context` prefixes every error message (e.g. the .deb path).
    init(context: String) throws {
        guard let h = archive_read_new() else {
            throw KernelError.archive(context: context, message: "out of memory")
        }
        self.handle = h
        self.context = context
    }

    deinit { archive_read_free(handle) }

    /// libarchive's current error text, or a fallback when it has none.
    var lastError: String {
        if let s = archive_error_string(handle) { return String(cString: s) }
        return "unknown libarchive error"
    }

    func fail(_ what: String) -> KernelError {
        KernelError.archive(context: context, message: "\(what): \(lastError)")
    }

    /// Checks a libarchive status code; warnings are tolerated like bsdtar does.
    func check(_ rc: Int32, _ what: String) throws {
        if rc < ARCHIVE_WARN { throw fail(what) }
    }

    /// Opens an in-memory buffer. The caller must keep `buffer` alive until this reader is gone.
    func open(memory buffer: UnsafeRawBufferPointer) throws {
        // libarchive rejects a NULL pointer even for size 0; empty input is simply not an archive.
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            throw KernelError.archive(context: context, message: "empty input")
        }
        try check(archive_read_open_memory(handle, UnsafeMutableRawPointer(mutating: base), buffer.count),
                  "cannot open")
    }

    /// Next header, or nil at the end of the archive.
    func nextHeader() throws -> OpaquePointer? {
        var entry: OpaquePointer?
        let rc = archive_read_next_header(handle, &entry)
        if rc == ARCHIVE_EOF { return nil }
        if rc < ARCHIVE_WARN { throw fail("cannot read next entry") }
        return entry
    }

    /// Reads the current entry's data to its end. `sizeHint` pre-sizes the buffer when known.
    /// Returns the bytes read and, if reading stopped on an error, libarchive's message:
    /// callers decide whether a partial read is acceptable (a bzImage payload has trailing bytes).
    func readRemainingData(sizeHint: Int = 0) -> (bytes: [UInt8], error: String?) {
        var out: [UInt8] = []
        out.reserveCapacity(max(sizeHint, 0))
        let chunk = 1 << 20
        var failure: String?
        withUnsafeTemporaryAllocation(byteCount: chunk, alignment: 16) { tmp in
            while true {
                let n = archive_read_data(handle, tmp.baseAddress, chunk)
                if n > 0 {
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: tmp[0..<n]))
                } else if n == 0 {
                    break
                } else if Int32(n) == ARCHIVE_WARN || Int32(n) == ARCHIVE_RETRY {
                    continue
                } else {
                    failure = lastError
                    break
                }
            }
        }
        return (out, failure)
    }

    /// Reads the current entry's data, throwing on any error.
    func readData(sizeHint: Int = 0, what: String) throws -> [UInt8] {
        let (bytes, error) = readRemainingData(sizeHint: sizeHint)
        if let error { throw KernelError.archive(context: context, message: "\(what): \(error)") }
        return bytes
    }
}

/// Decompresses a single compressed stream (xz, zstd, gzip, …) with libarchive's "raw" format.
enum RawDecompressor {
    /// Returns whatever was decompressed plus the error that stopped decompression, if any.
    /// Trailing garbage after a complete stream typically shows up as an error at the end.
    static func decompress(_ input: UnsafeRawBufferPointer, sizeHint: Int = 0,
                           context: String) throws -> (bytes: [UInt8], error: String?) {
        let reader = try KernelArchiveReader(context: context)
        archive_read_support_filter_all(reader.handle)
        archive_read_support_format_raw(reader.handle)
        try reader.open(memory: input)
        guard try reader.nextHeader() != nil else {
            throw KernelError.archive(context: context, message: "no compressed stream found")
        }
        // Without a recognised compression filter, "raw" would happily return the input unchanged.
        if archive_filter_count(reader.handle) < 2 || archive_filter_code(reader.handle, 0) == ARCHIVE_FILTER_NONE {
            throw KernelError.archive(context: context, message: "not a compressed stream")
        }
        return reader.readRemainingData(sizeHint: sizeHint)
    }

    /// Strict variant for whole files (.ko.xz): any error is fatal.
    static func decompressAll(_ input: [UInt8], context: String) throws -> [UInt8] {
        let (bytes, error) = try input.withUnsafeBytes {
            try decompress($0, sizeHint: input.count * 4, context: context)
        }
        if let error { throw KernelError.archive(context: context, message: "decompression failed: \(error)") }
        return bytes
    }
}
