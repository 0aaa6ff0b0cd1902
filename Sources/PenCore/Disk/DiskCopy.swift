// A copy of a VM's disk whose cost follows the data the VM wrote, not the disk's size: a reflink
// (FICLONE) where the host's filesystem shares blocks, otherwise only the allocated extents
// (SEEK_DATA/SEEK_HOLE), the holes left holes. Both ends are descriptors pen opened.
import CHostSys
import Glibc

public enum DiskCopy {
    public enum Method: String, Sendable { case reflink, extents }

    public struct Outcome: Sendable {
        public var method: Method
        /// Bytes read and written (0 for a reflink).
        public var copiedBytes: UInt64
    }

    /// Copies the regular file `from` (pen's own) into the new file `to` (0600, never through a link,
    /// failing if it exists); returns how it copied and the bytes the copy holds on the host.
    public static func copyFile(_ from: String, to: String, what: String) throws(PenError) -> (Outcome, allocated: UInt64) {
        let source = try SafeFiles.openNoFollow(from, O_RDONLY)
        defer { close(source) }
        var st = stat()
        guard fstat(source, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw PenError("\(from) is not a regular file", fix: "pen only copies its own disk images and states")
        }
        let target = try SafeFiles.openNoFollow(to, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        defer { close(target) }
        let outcome = try copy(from: source, to: target, size: UInt64(st.st_size), what: what)
        var written = stat()
        return (outcome, fstat(target, &written) == 0 ? UInt64(written.st_blocks) * 512 : 0)
    }

    /// Copies all of `source` into the empty regular file `destination`, `size` bytes long.
    public static func copy(from source: Int32, to destination: Int32, size: UInt64, what: String) throws(PenError) -> Outcome {
        if pen_reflink(destination, source) == 0 {
            guard fsync(destination) == 0 else { throw PenError.system("cannot sync \(what)") }
            return Outcome(method: .reflink, copiedBytes: 0)
        }
        guard ftruncate(destination, off_t(size)) == 0 else { throw PenError.system("cannot size \(what)") }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var copied: UInt64 = 0
        var offset: Int64 = 0
        while UInt64(offset) < size {
            let data = pen_seek_data(source, offset)
            if data < 0 {
                if pen_errno() == ENXIO { break }  // nothing but a hole from here
                throw PenError.system("cannot read \(what)")
            }
            let hole = min(pen_seek_hole(source, data), Int64(size))
            guard hole > data else { break }
            var at = data
            while at < hole {
                let want = Int(min(Int64(buffer.count), hole - at))
                let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, want, off_t(at)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw PenError.system("cannot read \(what)") }
                var written = 0
                while written < n {
                    let w = buffer.withUnsafeBytes { pwrite(destination, $0.baseAddress! + written, n - written, off_t(at) + off_t(written)) }
                    if w < 0 && errno == EINTR { continue }
                    guard w > 0 else { throw PenError.system("cannot write \(what)") }
                    written += w
                }
                at += Int64(n)
                copied += UInt64(n)
            }
            offset = hole
        }
        guard fsync(destination) == 0 else { throw PenError.system("cannot sync \(what)") }
        return Outcome(method: .extents, copiedBytes: copied)
    }
}
