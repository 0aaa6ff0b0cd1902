// Messages from init go to the kernel console (the VM's boot log), never to the user's terminal.
import Glibc

enum Console {
    /// Once devtmpfs is mounted, make fds 0-2 the console even if the kernel found none.
    static func attach() {
        let fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return }
        for target: Int32 in 0...2 where fcntl(target, F_GETFD) == -1 { dup2(fd, target) }
        if fd > 2 { close(fd) }
    }

    static func log(_ text: String) {
        writeAll(2, Array((text + "\n").utf8))
    }
}

/// Writes every byte, retrying on EINTR and short writes. Returns false on error.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN { waitWritable(fd); continue }
            return false
        }
        done += n
    }
    return true
}

func waitWritable(_ fd: Int32) {
    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    _ = poll(&p, 1, 1000)
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws(InitFailure) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
    if fd < 0 { throw .sys("files", "open \(path)") }
    defer { close(fd) }
    if !writeAll(fd, Array(text.utf8)) { throw .sys("files", "write \(path)") }
}

func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

func makeDirectory(_ path: String, _ mode: mode_t = 0o755) throws(InitFailure) {
    if mkdir(path, mode) != 0 && errno != EEXIST { throw .sys("files", "mkdir \(path)") }
}

/// mkdir -p
func makeDirectories(_ path: String) throws(InitFailure) {
    var current = ""
    for part in path.split(separator: "/") {
        current += "/" + part
        try makeDirectory(current)
    }
}
