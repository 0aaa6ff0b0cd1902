// pen's state (profiles, images, VMs) decides what a VM boots: its kernel, root image and boot
// snapshot. A pen run as root with HOME, XDG_* or PEN_HOME pointing into a tree another user
// controls would boot that user's files as root's, so every directory on the way to the state
// must belong to root or to the user running pen, and none may be writable by others (unless
// sticky, like /tmp, where others can add names but not replace this user's).
import Foundation

public enum StateOwnership {
    /// Refuses when a directory on the way to any of `paths`' state is another user's.
    public static func check(_ paths: PenPaths, uid: uid_t = geteuid(), gid: gid_t = getegid()) throws(PenError) {
        for dir in [paths.profiles, paths.images, paths.vms] {
            if let problem = problem(on: dir, uid: uid, gid: gid) {
                throw PenError("pen's state directory \(dir) is not safe to use: \(problem)",
                               fix: "point PEN_HOME (or HOME/XDG_*) at a directory that only you (uid \(uid)) can change")
            }
        }
    }

    /// What is wrong with the existing directories from / down to `path`, if anything: both the
    /// path as pen will use it (a directory holding a link could swap the link) and the
    /// directories its links lead through.
    static func problem(on path: String, uid: uid_t, gid: gid_t) -> String? {
        problem(walking: path, uid: uid, gid: gid) ?? problem(walking: resolvedExistingPart(of: path), uid: uid, gid: gid)
    }

    private static func problem(walking path: String, uid: uid_t, gid: gid_t) -> String? {
        var current = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            var st = stat()
            guard stat(current, &st) == 0 else { return nil }  // the rest will be created by pen, as this user
            guard (st.st_mode & S_IFMT) == S_IFDIR else { return nil }  // pen's own checks name a non-directory
            let sticky = st.st_mode & S_ISVTX != 0
            if st.st_uid != 0 && st.st_uid != uid {
                return "\(current) belongs to uid \(st.st_uid)"
            }
            if !sticky && st.st_mode & S_IWOTH != 0 {
                return "\(current) is writable by every user"
            }
            if !sticky && st.st_mode & S_IWGRP != 0 && st.st_gid != gid {
                return "\(current) is writable by group \(st.st_gid)"
            }
        }
        return nil
    }

    /// The real path of `path`'s deepest existing ancestor (or of itself).
    static func resolvedExistingPart(of path: String) -> String {
        var candidate = path
        while !candidate.isEmpty && candidate != "/" {
            if let real = realpath(candidate, nil) {
                defer { free(real) }
                return String(cString: real)
            }
            candidate = (candidate as NSString).deletingLastPathComponent
        }
        return "/"
    }
}
