// The host directory a VM shares at /workspace, read-write: an existing directory, never the
// whole host, never inside or above pen's own state (other VMs' disks, the images, the
// profiles), and — unless named with --dir — neither the user's home nor a directory above it,
// which pen would otherwise share just because `pen shell` ran there, nor a system directory
// (/etc, /usr, …) or a dot-directory of the home (~/.ssh, ~/.config).
import Foundation

public enum WorkspaceDirectory {
    /// What must never be shared, and what must not be shared by default.
    public struct Guard: Sendable {
        /// $HOME, resolved (nil: unknown).
        public var home: String?
        /// pen's directories: its profiles, image cache and VMs, resolved where they exist.
        public var penDirectories: [String]

        public init(home: String?, penDirectories: [String]) {
            self.home = home.map(realPathOrSelf)
            self.penDirectories = penDirectories.map(realPathOrSelf)
        }

        public init(paths: PenPaths, settings: Settings) {
            self.init(home: settings.userHome,
                      penDirectories: [paths.profiles, paths.images, paths.vms])
        }
    }

    /// The real path (symlinks and `..` resolved) of an existing directory that may be shared.
    /// `explicit`: named with --dir (the user's home is allowed then); otherwise the current directory.
    public static func resolve(_ path: String, explicit: Bool = true, guard rules: Guard? = nil) throws(PenError) -> String {
        let flag = explicit ? "--dir \(path)" : "the current directory \(path)"
        guard let real = realpath(path, nil) else {
            throw PenError("\(flag): \(String(cString: strerror(errno))); pass an existing directory")
        }
        defer { free(real) }
        let resolved = String(cString: real)
        var st = stat()
        guard stat(resolved, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw PenError("\(flag): not a directory; pass the project directory to share")
        }
        guard resolved != "/" else {
            throw PenError("\(flag): refusing to share the whole host filesystem", fix: "pass a project directory with --dir")
        }
        guard let rules else { return resolved }
        // Inside pen's state is never a project, and a directory holding it would hand the guest
        // every other VM's disk: refused even when named with --dir.
        for own in rules.penDirectories where isWithin(resolved, own) || isWithin(own, resolved) {
            throw PenError("\(flag) \(isWithin(resolved, own) ? "is inside" : "contains") pen's own state (\(own)): a guest could change other VMs' disks and images",
                           fix: explicit ? "pass a project directory" : "cd into a project, or pass --dir PATH")
        }
        if !explicit, let home = rules.home, isWithin(home, resolved) {
            let what = home == resolved ? "is your home directory" : "contains your home directory"
            throw PenError("\(flag) \(what): the guest would get read-write access to all of it (your shell's rc files, ~/.ssh)",
                           fix: "cd into a project, or pass --dir PATH")
        }
        if !explicit, let sensitive = sensitiveDirectory(holding: resolved, home: rules.home) {
            throw PenError("\(flag) is in \(sensitive), which is no project: the guest would get read-write access to it",
                           fix: "cd into a project, or pass --dir \(resolved) to share it on purpose")
        }
        return resolved
    }

    /// System directories: a shell that happens to be in /etc must not hand it to a guest.
    /// (/tmp and /var/tmp hold scratch projects and stay allowed.)
    /// (Homes are not here: `sudo pen` in /home/alice/project is how root runs a user's project.)
    static let systemDirectories = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot",
                                    "/dev", "/proc", "/sys", "/run", "/var"]

    /// The sensitive directory `path` lies in, if any: a system directory, or a dot-directory of
    /// the user's home (~/.ssh, ~/.config, ~/.gnupg, ~/.local: keys, tokens, rc files).
    static func sensitiveDirectory(holding path: String, home: String?) -> String? {
        if let home, isWithin(path, home), path != home {
            let first = path.dropFirst(home.hasSuffix("/") ? home.count : home.count + 1).split(separator: "/").first
            if let first, first.hasPrefix(".") { return (home.hasSuffix("/") ? home : home + "/") + first }
            return nil  // a project in the home, wherever homes live (/var/home on Silverblue)
        }
        if isWithin(path, "/var/tmp") { return nil }
        return systemDirectories.first { isWithin(path, $0) }
    }

    /// Whether `path` is `ancestor` or lies below it.
    static func isWithin(_ path: String, _ ancestor: String) -> Bool {
        path == ancestor || path.hasPrefix(ancestor.hasSuffix("/") ? ancestor : ancestor + "/")
    }

    static func realPathOrSelf(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }
}
