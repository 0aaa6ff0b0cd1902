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
        do {
            return try openChecked(path, sha256: sha256, stamped: true)
        } catch {
            switch error {
            case .symlink:
                throw PenError("image file \(path) is a symlink; pen does not follow symlinks in its image cache: remove it and rebuild with `\(rebuild)`")
            case .unopenable(let reason):
                throw PenError("image file \(path) is missing or unreadable (\(reason)); rebuild it with `\(rebuild)`")
            case .notRegular:
                throw PenError("image file \(path) is not a regular file; rebuild it with `\(rebuild)`")
            case .unreadable(let failure):
                throw failure
            case .mismatch:
                throw PenError("image file \(path) does not match its recorded SHA-256 (modified or truncated); rebuild it with `\(rebuild)`")
            }
        }
    }

    /// What is wrong with a file checked against its SHA-256; each caller says it in its own words.
    public enum Problem: Error {
        case symlink
        case unopenable(String)
        case notRegular
        case unreadable(PenError)
        case mismatch
    }

    /// The check itself: `path` opened without following a link, a regular file, whose content
    /// (read through that descriptor) is `sha256`. `stamped`: a stamp naming this very file
    /// spares the hashing, and a match is stamped (images, read at every boot); a file read once
    /// (a suspended machine) is hashed every time and leaves no stamp.
    public static func openChecked(_ path: String, sha256: String, stamped: Bool) throws(Problem) -> Int32 {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let err = errno
            throw err == ELOOP ? .symlink : .unopenable(String(cString: strerror(err)))
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .notRegular
        }
        let expected = "\(identity(of: st)) \(sha256)\n"
        if stamped, let recorded = try? String(contentsOfFile: stampPath(for: path), encoding: .utf8), recorded == expected { return fd }
        let actual: String
        do { actual = try SHA256File.hex(fileDescriptor: fd, path: path) } catch {
            close(fd)
            throw .unreadable(error)
        }
        guard actual == sha256 else {
            close(fd)
            if stamped { unlink(stampPath(for: path)) }
            throw .mismatch
        }
        if stamped { try? SafeFiles.writeAtomically(expected, to: stampPath(for: path)) }
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
