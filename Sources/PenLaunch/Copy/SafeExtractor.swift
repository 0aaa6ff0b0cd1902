// A tar from the VM onto the host. The VM is not trusted: every path is checked to stay under
// its top-level name inside the destination; every directory on the way is opened without
// following links, so a symlink in the archive can never carry a later entry out of the
// destination; device nodes, FIFOs, sockets and setuid/setgid bits are refused. Files belong to
// the user running pen; modes and times are kept.
import CArchive
import Foundation
import PenCore
import ProfileBuilder
import PenIO

final class SafeExtractor {
    let destination: Int32
    /// Top-level names allowed in the archive, and the name each gets in the destination.
    let renames: [String: String]
    private var directoryTimes: [(path: [String], time: timespec)] = []

    /// `destination` is an open directory (kept open by the caller).
    init(destination: Int32, renames: [String: String]) {
        self.destination = destination
        self.renames = renames
    }

    /// Reads the tar from `fd` to its end.
    func extract(from fd: Int32) throws(PenError) {
        guard let a = archive_read_new() else { throw PenError("libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK else { throw failure(a, "cannot read the copy") }
        while true {
            var entry: OpaquePointer?
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { break }
            guard r >= ARCHIVE_WARN, let entry else { throw failure(a, "cannot read the copy") }
            try extract(entry, archive: a)
        }
        // Directories last: what was written into them changed their times.
        for (path, time) in directoryTimes.reversed() {
            if let (parent, name) = try? open(parent: path), parent >= 0 {
                setTimes(parent, name, time)
                if parent != destination { close(parent) }
            }
        }
    }

    private func extract(_ entry: OpaquePointer, archive a: OpaquePointer) throws(PenError) {
        let raw = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        let path = try components(raw)
        let mode = mode_t(archive_entry_perm(entry))
        guard mode & (S_ISUID | S_ISGID) == 0 else {
            throw PenError("pen cp: refused \(raw): it has the setuid or setgid bit", fix: "clear it in the VM (chmod u-s,g-s) and copy again")
        }
        let (parent, name) = try open(parent: path)
        defer { if parent != destination { close(parent) } }
        let time = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: Int(archive_entry_mtime_nsec(entry)))
        if let link = archive_entry_hardlink(entry) {
            let target = try components(String(cString: link))
            let (targetParent, targetName) = try open(parent: target)
            defer { if targetParent != destination { close(targetParent) } }
            try removeExisting(parent, name)
            guard linkat(targetParent, targetName, parent, name, 0) == 0 else { throw PenError.system("pen cp: cannot link \(raw)") }
            return
        }
        switch UInt32(archive_entry_filetype(entry)) {
        case FileType.directory:
            if mkdirat(parent, name, 0o700) != 0 && errno != EEXIST { throw PenError.system("pen cp: cannot create \(raw)") }
            guard let dir = try? openDirectory(parent, name) else {
                throw PenError("pen cp: refused \(raw): a non-directory is in the way")
            }
            fchmod(dir, mode)
            close(dir)
            directoryTimes.append((path, time))
        case FileType.regular:
            try removeExisting(parent, name)
            let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw PenError.system("pen cp: cannot create \(raw)") }
            defer { close(fd) }
            try copyData(a, to: fd, name: raw)
            fchmod(fd, mode)
            var times = [time, time]
            futimens(fd, &times)
        case FileType.symlink:
            let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
            try removeExisting(parent, name)
            guard symlinkat(target, parent, name) == 0 else { throw PenError.system("pen cp: cannot create the link \(raw)") }
            setTimes(parent, name, time)
        default:
            throw PenError("pen cp: refused \(raw): device nodes, FIFOs and sockets are not copied to the host")
        }
    }

    /// The entry's path as components under an allowed top-level name (renamed), or an error
    /// for an absolute path, `..`, or a name outside the copy.
    private func components(_ raw: String) throws(PenError) -> [String] {
        var parts = raw.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        guard !raw.hasPrefix("/"), !parts.contains(".."), let first = parts.first, let renamed = renames[first] else {
            throw PenError("pen cp: refused '\(raw.prefix(200))': it would land outside the destination")
        }
        parts[0] = renamed
        return parts
    }

    /// The directory holding `path`'s last component, opened component by component from the
    /// destination without following a link; and that last component.
    private func open(parent path: [String]) throws(PenError) -> (Int32, String) {
        var dir = destination
        for part in path.dropLast() {
            guard let next = try? openDirectory(dir, part) else {
                if dir != destination { close(dir) }
                throw PenError("pen cp: refused '\(path.joined(separator: "/"))': \(part) is not a directory in the copy (a link is never followed)")
            }
            if dir != destination { close(dir) }
            dir = next
        }
        return (dir, path.last!)
    }

    private func openDirectory(_ parent: Int32, _ name: String) throws(PenError) -> Int32 {
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw PenError.system("cannot open \(name)") }
        return fd
    }

    /// A file, link or empty directory already there is replaced (like cp); a directory with
    /// files is not.
    private func removeExisting(_ parent: Int32, _ name: String) throws(PenError) {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let flags = (st.st_mode & S_IFMT) == S_IFDIR ? AT_REMOVEDIR : 0
        guard unlinkat(parent, name, flags) == 0 else { throw PenError.system("pen cp: cannot replace \(name)") }
    }

    private func copyData(_ a: OpaquePointer, to fd: Int32, name: String) throws(PenError) {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = archive_read_data(a, &chunk, chunk.count)
            if n == 0 { return }
            guard n > 0 else { throw failure(a, "pen cp: cannot read \(name)") }
            guard writeAll(fd, Array(chunk[0..<n])) else { throw PenError.system("pen cp: cannot write \(name)") }
        }
    }

    private func setTimes(_ parent: Int32, _ name: String, _ time: timespec) {
        var times = [time, time]
        utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW)
    }

    private func failure(_ a: OpaquePointer, _ what: String) -> PenError {
        PenError(what, cause: archive_error_string(a).map { String(cString: $0) })
    }
}
