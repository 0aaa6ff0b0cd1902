// The guest's part of a suspend: before the host saves the machine, /workspace is unmounted
// (QEMU refuses to migrate while a 9p share is attached) and the disk's filesystem is synced and
// frozen, so the disk alone is a clean filesystem whatever happens to the saved memory. After
// the machine runs again (restored, or the save failed) the disk thaws and /workspace comes back.
import CGuestSys
import Glibc

enum Suspension {
    /// How long processes ended by a forced suspend get to let go of /workspace.
    static let releaseTime: UInt64 = 3_000_000  // µs

    /// Releases /workspace (when mounted) and freezes the disk; nil when done, else why not
    /// (and then nothing is left unmounted or frozen).
    static func prepare(workspaceTag: String?, force: Bool) -> String? {
        if workspaceTag != nil, let problem = releaseWorkspace(force: force) { return problem }
        sync()
        if DiskHealth.isWatching, pen_freeze_fs(RootSwitch.diskMount) != 0 {
            let error = pen_guest_errno()
            if let tag = workspaceTag { try? Workspace.mount(tag: tag) }
            return "cannot freeze the disk's filesystem (errno \(error))"
        }
        return nil
    }

    /// The machine runs again: the disk thaws and /workspace is mounted again (a failure is said, not fatal).
    static func resume(workspaceTag: String?) -> String? {
        if DiskHealth.isWatching, pen_thaw_fs(RootSwitch.diskMount) != 0, pen_guest_errno() != EINVAL {
            Console.log("pen-init: resume: thaw \(RootSwitch.diskMount): errno \(pen_guest_errno())")
        }
        guard let tag = workspaceTag else { return nil }
        do { try Workspace.mount(tag: tag) } catch { return "/workspace could not be mounted again: \(error.message)" }
        return nil
    }

    /// Unmounts /workspace; its users are named (or, forced, killed first). Nil when unmounted.
    static func releaseWorkspace(force: Bool) -> String? {
        let mountPoint = Workspace.mountPoint
        if umount2(mountPoint, 0) == 0 || errno == EINVAL { return nil }  // EINVAL: not mounted
        guard errno == EBUSY else { return "cannot unmount \(mountPoint) (errno \(errno))" }
        let users = WorkspaceUsers.find(under: mountPoint)
        guard force else {
            let who = users.isEmpty ? "something holds it (a mount under it?)" : "in use by " + WorkspaceUsers.describe(users)
            return "\(mountPoint) is \(who); end them, or suspend with --force, which ends them"
        }
        for user in users { kill(user.pid, SIGKILL) }
        let deadline = monotonicMicroseconds() + releaseTime
        while monotonicMicroseconds() < deadline {
            usleep(20_000)
            if umount2(mountPoint, 0) == 0 { return nil }
            guard errno == EBUSY else { break }
        }
        let left = WorkspaceUsers.find(under: mountPoint)
        return "\(mountPoint) stays busy\(left.isEmpty ? "" : ": " + WorkspaceUsers.describe(left))"
    }
}
