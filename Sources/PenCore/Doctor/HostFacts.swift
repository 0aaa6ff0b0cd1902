// Facts about the host that `pen doctor` reports: apt's candidate version, free space, devices.
import Foundation

public enum HostFacts {
    /// The `Candidate:` version in `apt-cache policy PACKAGE` output; nil for none.
    public static func aptCandidate(in output: String) -> String? {
        for line in output.split(separator: "\n") {
            let text = line.trimmingCharacters(in: " ")
            guard text.hasPrefix("Candidate:") else { continue }
            let version = text.dropFirst("Candidate:".count).trimmingCharacters(in: " ")
            return version.isEmpty || version == "(none)" ? nil : version
        }
        return nil
    }

    /// Bytes available to unprivileged users on the filesystem holding `path` (or its nearest
    /// existing ancestor, so it works before pen has created its directories).
    public static func freeBytes(at path: String) -> UInt64? {
        var current = path
        while true {
            var fs = statvfs()
            if statvfs(current, &fs) == 0 { return UInt64(fs.f_bavail) * UInt64(fs.f_frsize) }
            guard errno == ENOENT || errno == ENOTDIR, current != "/", !current.isEmpty else { return nil }
            current = (current as NSString).deletingLastPathComponent
            if current.isEmpty { current = "/" }
        }
    }

    /// The filesystem device of `path` (or its nearest existing ancestor): to report shared filesystems once.
    public static func device(of path: String) -> UInt64? {
        var current = path
        while true {
            var st = stat()
            if stat(current, &st) == 0 { return UInt64(st.st_dev) }
            guard current != "/", !current.isEmpty else { return nil }
            current = (current as NSString).deletingLastPathComponent
            if current.isEmpty { current = "/" }
        }
    }
}
