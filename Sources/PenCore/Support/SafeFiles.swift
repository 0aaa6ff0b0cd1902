// State files are replaced atomically and nothing is ever created through a symlink.
import Foundation

public enum SafeFiles {
    /// Writes bytes to a fresh temp file beside `path` (O_EXCL|O_NOFOLLOW), fsyncs it, renames
    /// it over `path` and fsyncs the directory. On failure `path` is untouched.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(PenError) {
        try refuseSymlink(path)
        let dir = (path as NSString).deletingLastPathComponent
        let temp = "\(dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw PenError.system("cannot create \(temp)") }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                close(fd)
                throw PenError.system("cannot write \(path)", err)
            }
            written += n
        }
        if fsync(fd) != 0 {
            let err = errno
            close(fd)
            throw PenError.system("cannot write \(path)", err)
        }
        close(fd)
        guard rename(temp, path) == 0 else { throw PenError.system("cannot replace \(path)") }
        ok = true
        syncDirectory(dir)
    }

    public static func writeAtomically(_ text: String, to path: String, mode: mode_t = 0o644) throws(PenError) {
        try writeAtomically(Array(text.utf8), to: path, mode: mode)
    }

    public static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// open(2) with O_NOFOLLOW|O_CLOEXEC added; a symlink at `path` is refused with a message.
    public static func openNoFollow(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(PenError) -> Int32 {
        let fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let err = errno
            try refuseSymlink(path)
            throw PenError.system("cannot open \(path)", err)
        }
        return fd
    }

    /// Refuses a path that is a symlink (a planted link must never be written through).
    public static func refuseSymlink(_ path: String) throws(PenError) {
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
            throw PenError("\(path) is a symlink; pen does not write through symlinks: remove it")
        }
    }

    /// mkdir -p where every component pen creates or passes through must be a real directory.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(PenError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw PenError.system("cannot create directory \(current)")
            }
        }
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw PenError("\(path) is not a directory (a symlink or file is in the way): remove it")
        }
    }

    /// Creates exactly one new directory; fails if anything (including a symlink) is there.
    public static func makeNewDirectory(_ path: String, mode: mode_t = 0o700) throws(PenError) {
        guard mkdir(path, mode) == 0 else { throw PenError.system("cannot create directory \(path)") }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }
}
