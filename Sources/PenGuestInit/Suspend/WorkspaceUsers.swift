// Which processes keep /workspace busy (so it cannot be unmounted before a suspend): those
// whose working directory, root, executable, open files or mapped files are under it. Read
// from /proc; bounded by the number of processes and of descriptors each one has.
import Glibc

struct WorkspaceUser: Equatable {
    var pid: pid_t
    var name: String
}

enum WorkspaceUsers {
    /// The processes using anything under `mountPoint`, the init itself excluded, by pid.
    static func find(under mountPoint: String) -> [WorkspaceUser] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var users: [WorkspaceUser] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), pid > 1 else { continue }
            if uses(pid, mountPoint) { users.append(WorkspaceUser(pid: pid, name: command(of: pid))) }
        }
        return users.sorted { $0.pid < $1.pid }
    }

    /// "bash (pid 12), vim (pid 40)", at most `limit` named, then how many more.
    static func describe(_ users: [WorkspaceUser], limit: Int = 8) -> String {
        let named = users.prefix(limit).map { "\($0.name) (pid \($0.pid))" }
        let more = users.count > limit ? ", and \(users.count - limit) more" : ""
        return named.joined(separator: ", ") + more
    }

    static func isUnder(_ path: String, _ mountPoint: String) -> Bool {
        path == mountPoint || path.hasPrefix(mountPoint + "/") || path.hasPrefix(mountPoint + " (deleted)")
    }

    private static func uses(_ pid: pid_t, _ mountPoint: String) -> Bool {
        let base = "/proc/\(pid)"
        for name in ["cwd", "root", "exe"] where link(base + "/" + name).map({ isUnder($0, mountPoint) }) ?? false {
            return true
        }
        if let fds = opendir(base + "/fd") {
            defer { closedir(fds) }
            while let entry = readdir(fds) {
                let fd = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard fd.first?.isNumber == true else { continue }
                if link(base + "/fd/" + fd).map({ isUnder($0, mountPoint) }) ?? false { return true }
            }
        }
        // Mapped files (a program run from the workspace, an mmapped database) hold it too.
        if let maps = readSmall(base + "/maps", limit: 1 << 20) {
            for line in maps.split(separator: "\n") {
                guard let slash = line.firstIndex(of: "/") else { continue }
                if isUnder(String(line[slash...]), mountPoint) { return true }
            }
        }
        return false
    }

    private static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func command(of pid: pid_t) -> String {
        let text = readSmall("/proc/\(pid)/comm", limit: 64) ?? "?"
        // Printable only: it goes into a message the host shows.
        return String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7f }.map(Character.init))
    }

    private static func readSmall(_ path: String, limit: Int) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while out.count < limit {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { break }
            out += chunk[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
