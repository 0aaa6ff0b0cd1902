// Images are checked against the SHA-256 recorded when they were published. Hashing a 40 MB
// initrd on every boot would cost more than deciding the image is fresh, so a file is hashed
// once and its identity (device, inode, size, mtime, ctime) stamped beside it: any later write,
// truncation or replacement changes that identity and brings the hash back.
import Foundation

public enum ImageIntegrity {
    /// Refuses a file whose content no longer matches `sha256`; `rebuild` is the command that fixes it.
    public static func verifyOnce(_ path: String, sha256: String, rebuild: String) throws(PenError) {
        let stamp = stampPath(for: path)
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
            throw PenError("image file \(path) is a symlink; pen does not follow symlinks in its image cache: remove it and rebuild with `\(rebuild)`")
        }
        guard let identity = identity(of: path) else {
            throw PenError("image file \(path) is missing; rebuild it with `\(rebuild)`")
        }
        let expected = "\(identity) \(sha256)\n"
        if let recorded = try? String(contentsOfFile: stamp, encoding: .utf8), recorded == expected { return }
        guard try SHA256File.hex(path: path) == sha256 else {
            unlink(stamp)
            throw PenError("image file \(path) does not match its recorded SHA-256 (modified or truncated); rebuild it with `\(rebuild)`")
        }
        try? SafeFiles.writeAtomically(expected, to: stamp)
    }

    /// Opens `path` without following a link and checks what that descriptor reads against
    /// `sha256` (the stamp counts only when it names this very file): the caller hands the
    /// descriptor on, so the file checked is the file used, whatever the path leads to later.
    public static func openVerified(_ path: String, sha256: String, rebuild: String) throws(PenError) -> Int32 {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let err = errno
            if err == ELOOP {
                throw PenError("image file \(path) is a symlink; pen does not follow symlinks in its image cache: remove it and rebuild with `\(rebuild)`")
            }
            throw PenError("image file \(path) is missing or unreadable (\(String(cString: strerror(err)))); rebuild it with `\(rebuild)`")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw PenError("image file \(path) is not a regular file; rebuild it with `\(rebuild)`")
        }
        let expected = "\(identity(of: st)) \(sha256)\n"
        if let recorded = try? String(contentsOfFile: stampPath(for: path), encoding: .utf8), recorded == expected { return fd }
        let actual: String
        do { actual = try SHA256File.hex(fileDescriptor: fd, path: path) } catch {
            close(fd)
            throw error
        }
        guard actual == sha256 else {
            close(fd)
            unlink(stampPath(for: path))
            throw PenError("image file \(path) does not match its recorded SHA-256 (modified or truncated); rebuild it with `\(rebuild)`")
        }
        try? SafeFiles.writeAtomically(expected, to: stampPath(for: path))
        return fd
    }

    /// Re-hashes without trusting any stamp (`pen image verify`). True when it matches.
    public static func rehash(_ path: String, sha256: String) -> Bool {
        (try? SHA256File.hex(path: path)) == sha256
    }

    public static func stampPath(for path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return "\(dir)/" + stampName(for: (path as NSString).lastPathComponent)
    }

    /// The stamp's file name beside a file named `name`.
    public static func stampName(for name: String) -> String { ".\(name).verified" }

    /// Changes whenever the file's content can have changed (ctime cannot be set back by users).
    static func identity(of path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return identity(of: st)
    }

    static func identity(of st: stat) -> String {
        "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
    }
}
