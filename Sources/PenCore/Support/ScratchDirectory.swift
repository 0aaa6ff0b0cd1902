// Private scratch directories (a build's work, a download's staging, a VM being deleted) and
// the one sweeper of those a killed pen left behind. A scratch directory's name carries the
// pid of the pen that made it, `<prefix><pid>-<rest>`, so any pen can tell an abandoned one
// (its pid no longer runs) from one in use.
import Foundation

public struct ScratchDirectory: Sendable {
    public let path: String

    /// Creates `<parent>/<prefix><pid>-XXXXXX`, mode 0700.
    public init(in parent: String, prefix: String) throws(PenError) {
        var template = Array("\(parent)/\(prefix)\(getpid())-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PenError.system("cannot create a scratch directory in \(parent)")
        }
        path = String(cString: made)
    }

    /// The name for a scratch entry made by rename rather than mkdtemp (e.g. a VM being deleted).
    public static func name(prefix: String, rest: String) -> String {
        "\(prefix)\(getpid())-\(rest)"
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Deletes the entries of `parent` named `<prefix><pid>-…` whose pid no longer runs.
    public static func sweep(in parent: String, prefixes: [String]) {
        for entry in abandoned(in: parent, prefixes: prefixes) {
            try? FileManager.default.removeItem(atPath: parent + "/" + entry)
        }
    }

    /// The entries of `parent` named `<prefix><pid>-…` whose pid no longer runs.
    public static func abandoned(in parent: String, prefixes: [String]) -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return [] }
        return entries.sorted().filter { entry in
            guard let prefix = prefixes.first(where: { entry.hasPrefix($0) }),
                  let pid = pid_t(entry.dropFirst(prefix.count).prefix(while: { $0 != "-" })),
                  pid > 0, pid != getpid() else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
    }
}
