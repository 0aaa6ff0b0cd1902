// The few file operations init needs, each failing with the stage's InitFailure.
import Glibc
import PenIO

enum Files {
    static func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws(InitFailure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        if fd < 0 { throw .sys("files", "open \(path)") }
        defer { close(fd) }
        if !writeAll(fd, Array(text.utf8)) { throw .sys("files", "write \(path)") }
    }

    /// Replaces whatever is at `path` (a file, or a symlink a package left there: resolvconf and
    /// systemd-resolved make /etc/resolv.conf one) by a new file: written beside it, then renamed
    /// over it, so a link is replaced, never followed.
    static func replace(_ path: String, _ text: String, mode: mode_t = 0o644) throws(InitFailure) {
        let temporary = path + ".pen-new"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        if fd < 0 { throw .sys("files", "create \(temporary)") }
        let written = writeAll(fd, Array(text.utf8))
        close(fd)
        guard written else { unlink(temporary); throw .sys("files", "write \(temporary)") }
        if rename(temporary, path) != 0 { unlink(temporary); throw .sys("files", "replace \(path)") }
    }

    /// The whole file, or nil when it cannot be opened.
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func makeDirectory(_ path: String, _ mode: mode_t = 0o755) throws(InitFailure) {
        if mkdir(path, mode) != 0 && errno != EEXIST { throw .sys("files", "mkdir \(path)") }
    }

    /// mkdir -p
    static func makeDirectories(_ path: String) throws(InitFailure) {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            try makeDirectory(current)
        }
    }

    static func makeParentDirectories(of path: String) throws(InitFailure) {
        try makeDirectories(path.split(separator: "/").dropLast().joined(separator: "/"))
    }
}
