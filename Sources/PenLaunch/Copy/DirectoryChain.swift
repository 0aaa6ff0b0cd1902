// The directories an extraction is writing into, open from the destination down to the
// current one: the next entry reuses the common part and opens only what differs (linear in
// the archive, not in depth × entries), each level opened without following a link. A
// directory this copy created gets its mode and times when the copy leaves it, after its
// children were written; one that was already there is never changed. Whether a level is
// the copy's own (made by it, or inside a directory it made) is kept when a level is left and
// entered again: the directories the copy made in one that was already there are known by
// device and inode, and what is under them inherits it.
import Foundation

final class DirectoryChain {
    /// What a created directory gets when it is left.
    struct Finish {
        var mode: mode_t
        var time: timespec
    }

    private struct Level {
        let name: PathComponent
        let fd: Int32
        let created: Bool
        let finish: Finish?
    }

    let root: Int32
    private var levels: [Level] = []
    /// Directories the copy made in a directory that was already there, by device and inode:
    /// one per top-level item in the usual copy; bounded (past it, a level entered again is
    /// taken as not the copy's, and what is made in it is recorded on its own).
    private var madeRoots: Set<[UInt64]> = []
    static let maximumMadeRoots = 100_000

    /// `root` stays the caller's (never closed here).
    init(root: Int32) {
        self.root = root
    }

    deinit { leave(downTo: 0) }

    /// The directory at `path` (below the root), opened level by level without following a
    /// link; and whether it is the copy's own. Deeper levels no longer on the way are left.
    func enter(_ path: ArraySlice<PathComponent>) throws(NotADirectory) -> (fd: Int32, created: Bool) {
        var common = 0
        for (level, name) in zip(levels, path) {
            guard level.name == name else { break }
            common += 1
        }
        leave(downTo: common)
        for name in path.dropFirst(common) {
            let parent = levels.last?.fd ?? root
            let fd = name.withCString { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw NotADirectory(name: name) }
            levels.append(Level(name: name, fd: fd, created: owned(fd, made: false), finish: nil))
        }
        return (levels.last?.fd ?? root, levels.last?.created ?? false)
    }

    /// Makes `fd` (the directory `name` inside the current one, `made` by this copy just now)
    /// the current directory.
    func push(_ name: PathComponent, fd: Int32, made: Bool, finish: Finish?) {
        levels.append(Level(name: name, fd: fd, created: owned(fd, made: made), finish: finish))
    }

    /// Whether the directory `fd`, about to become the deepest level, is the copy's own.
    private func owned(_ fd: Int32, made: Bool) -> Bool {
        if levels.last?.created == true { return true }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        let id = [UInt64(st.st_dev), UInt64(st.st_ino)]
        if made, madeRoots.count < Self.maximumMadeRoots { madeRoots.insert(id) }
        return made || madeRoots.contains(id)
    }

    /// Leaves every level deeper than `depth`, finishing the directories this copy created
    /// (unless `finishing` is false: a copy about to be removed keeps them open to removal).
    func leave(downTo depth: Int, finishing: Bool = true) {
        while levels.count > depth {
            let level = levels.removeLast()
            if finishing, let finish = level.finish {
                fchmod(level.fd, finish.mode)
                var times = [finish.time, finish.time]
                futimens(level.fd, &times)
            }
            close(level.fd)
        }
    }

    /// A component on the way that is not a directory (or is a link, never followed).
    struct NotADirectory: Error {
        let name: PathComponent
    }
}
