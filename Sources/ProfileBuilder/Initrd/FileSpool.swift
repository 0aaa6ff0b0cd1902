// The contents of a tree's files read from an archive, kept on disk rather than in memory:
// one unnamed scratch file the tar reader appends to and the image writers read ranges of,
// so a root of several GiB is repacked in bounded memory. Sparse members stay sparse here
// (holes are left unwritten) and read back as zeros.
import Foundation
import PenCore
import PenIO

final class FileSpool: Sendable {
    let fd: Int32
    /// For messages only.
    let label: String

    /// An anonymous file in `directory` (O_TMPFILE: no name, nothing to clean up, gone when
    /// closed); where the file system cannot do that, a fresh name (O_EXCL|O_NOFOLLOW) unlinked at once.
    init(directory: String) throws {
        label = "scratch file in \(directory)"
        var fd = open(directory, Self.tmpfileFlag | O_RDWR | O_CLOEXEC, 0o600)
        if fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
            let name = "\(directory)/.spool-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
            fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { unlink(name) }
        }
        guard fd >= 0 else { throw PenError.system("cannot create a scratch file in \(directory)") }
        self.fd = fd
    }

    deinit { close(fd) }

    /// O_TMPFILE is a macro Swift does not import: __O_TMPFILE | O_DIRECTORY.
    private static let tmpfileFlag: Int32 = 0o20000000 | O_DIRECTORY

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard writeAll(fd, bytes, at: Int64(offset)) else { throw PenError.system("cannot write the \(label)") }
    }

    /// Makes the file at least `length` bytes long; the extension is a hole.
    func extend(to length: UInt64) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PenError.system("cannot stat the \(label)") }
        if UInt64(st.st_size) < length, ftruncate(fd, off_t(length)) != 0 {
            throw PenError.system("cannot extend the \(label)")
        }
    }

    /// Hands `range` to `body` in chunks of at most `buffer.count` bytes.
    func read(_ range: SpoolRange, buffer: inout [UInt8], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var done: UInt64 = 0
        while done < range.length {
            let want = Int(min(UInt64(buffer.count), range.length - done))
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(range.offset + done)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw PenError.system("cannot read the \(label)") }
            guard n > 0 else { throw PenError("the \(label) ended early (at \(range.offset + done))") }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            done += UInt64(n)
        }
    }
}
