// One finding of `pen doctor`: what was checked, how it went, and what to do about it.
import Foundation

public enum CheckStatus: String, Codable, Sendable {
    case ok, warn, fail
}

public struct HostCheck: Codable, Equatable, Sendable {
    public var name: String
    public var status: CheckStatus
    public var detail: String
    /// What to do, for a warn or a fail (nil when nothing is needed).
    public var fix: String?

    public init(_ name: String, _ status: CheckStatus, _ detail: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }

    enum CodingKeys: String, CodingKey { case name, status, detail, fix }

    // `fix` is always present (null when none), so every check has the same shape.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(status, forKey: .status)
        try c.encode(detail, forKey: .detail)
        try c.encode(fix, forKey: .fix)
    }

    /// `ok    qemu: detail`, plus an indented `fix:` line for problems.
    public var lines: [String] {
        let head = status.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0) + "\(name): \(detail)"
        guard status != .ok, let fix else { return [head] }
        return [head, "      fix: \(fix)"]
    }
}

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
