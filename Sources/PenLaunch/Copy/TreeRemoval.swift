// Removing what a stopped copy created: a file, link or whole directory tree, walked through
// directory descriptors opened without following links (a link inside is removed, not its
// target). Best effort: what cannot be removed stays.
import Foundation

enum TreeRemoval {
    static func remove(_ name: PathComponent, in parent: Int32) {
        if name.withCString({ unlinkat(parent, $0, 0) }) == 0 || errno != EISDIR { return }
        let fd = name.withCString { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return }
        fchmod(fd, 0o700)  // a read-only directory the copy made
        for child in entries(of: fd) { remove(child, in: fd) }
        close(fd)
        _ = name.withCString { unlinkat(parent, $0, AT_REMOVEDIR) }
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
