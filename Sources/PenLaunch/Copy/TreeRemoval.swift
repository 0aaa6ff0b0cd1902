// Removing what a stopped copy created: a file, link or whole directory tree, walked through
// directory descriptors opened without following links (a link inside is removed, not its
// target). A directory the archive made unreadable (mode 000) is opened as a path only
// (O_PATH, no link followed), made 0700 through /proc/self/fd, and opened again: without
// root's override that is the only way into it. What cannot be removed stays, and is reported.
import Foundation

enum TreeRemoval {
    /// O_PATH (Linux's value on x86_64 and arm64), which Swift's Glibc module leaves out.
    static let oPath: Int32 = 0o10_000_000

    /// Removes `name` in `parent` and everything under it; false when something stays.
    @discardableResult
    static func remove(_ name: PathComponent, in parent: Int32) -> Bool {
        if name.withCString({ unlinkat(parent, $0, 0) }) == 0 || errno == ENOENT { return true }
        guard errno == EISDIR else { return false }
        let fd = openDirectory(name, in: parent)
        guard fd >= 0 else { return false }
        fchmod(fd, 0o700)  // a read-only directory the copy made
        var all = true
        for child in entries(of: fd) where !remove(child, in: fd) { all = false }
        close(fd)
        return name.withCString { unlinkat(parent, $0, AT_REMOVEDIR) } == 0 && all
    }

    /// The directory `name` in `parent`, opened for reading without following a link; one
    /// without read or search permission for its owner is given 0700 first.
    private static func openDirectory(_ name: PathComponent, in parent: Int32) -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        let fd = name.withCString { openat(parent, $0, flags) }
        guard fd < 0, errno == EACCES else { return fd }
        let path = name.withCString { openat(parent, $0, oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard path >= 0 else { return -1 }
        defer { close(path) }
        // fchmod refuses an O_PATH descriptor; its /proc link names that very directory.
        guard chmod("/proc/self/fd/\(path)", 0o700) == 0 else { return -1 }
        return name.withCString { openat(parent, $0, flags) }
    }

    /// The names in an open directory, "." and ".." left out.
    static func entries(of fd: Int32) -> [PathComponent] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else { return [] }
        defer { closedir(dir) }
        var names: [PathComponent] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(PathComponent(bytes: name))
        }
        return names
    }
}
