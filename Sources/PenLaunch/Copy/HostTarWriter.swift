// Host files into a tar stream for the VM: each source under its own name, with its modes,
// owners and times, symlinks as links, directories recursively. The tree is walked here, not
// by libarchive's disk reader (which follows a link swapped in between its stat and its open):
// every file and directory is opened relative to its parent's descriptor with O_NOFOLLOW, and
// what is sent is what that descriptor says (fstat), so a link the guest swaps in under a
// shared workspace is sent as a link and never followed. Only files, directories and symlinks
// go: a device node or a socket on the host is refused, not copied.
import CArchive
import Foundation
import PenCore
import ProfileBuilder

enum HostTarWriter {
    /// Writes the tar to `fd` (closed by the caller). Throws on a refused or unreadable source.
    static func write(sources: [String], to fd: Int32) throws(PenError) {
        guard let writer = archive_write_new() else { throw PenError("libarchive: out of memory") }
        defer { archive_write_free(writer) }
        archive_write_set_format_pax_restricted(writer)
        guard archive_write_open_fd(writer, fd) == ARCHIVE_OK else { throw failure(writer, "cannot start the copy") }
        var walk = HostTreeWalk(writer: writer)
        for source in sources {
            try walk.add(source)
        }
        guard archive_write_close(writer) == ARCHIVE_OK else { throw failure(writer, "cannot finish the copy") }
    }

    static func failure(_ a: OpaquePointer, _ what: String) -> PenError {
        PenError(what, cause: archive_error_string(a).map { String(cString: $0) })
    }
}

/// One copy's walk over the host's trees, writing each entry as it is read.
struct HostTreeWalk {
    let writer: OpaquePointer
    private var users: [uid_t: String?] = [:]
    private var groups: [gid_t: String?] = [:]
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    init(writer: OpaquePointer) {
        self.writer = writer
    }

    /// A source as the user typed it: the components before its last are followed when the
    /// path is absolute (the user named them), never when it is relative (TypedPath: the
    /// workspace is shared with the VM); the last one and everything under it never are.
    mutating func add(_ source: String) throws(PenError) {
        var trimmed = Substring(source)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let (parentPath, name) = splitPath(String(trimmed))
        guard !name.isEmpty, name != "/", name != ".", name != ".." else {
            throw PenError("pen cp: give a file or directory by name, not \(source)", fix: "e.g. pen cp ./src dev:/root/")
        }
        let parent = try TypedPath.openDirectory(parentPath)
        guard parent >= 0 else { throw PenError.system("pen cp: cannot read \(source)") }
        defer { close(parent) }
        let component = PathComponent(bytes: Array(name.utf8))
        try add(component, in: parent, as: component.bytes, depth: 0)
    }

    /// `name` in the directory `dir`, sent as `archiveName`.
    private mutating func add(_ name: PathComponent, in dir: Int32, as archiveName: [UInt8], depth: Int) throws(PenError) {
        var shown: String { GuestText.printable(archiveName, limit: 200) }
        guard depth <= ArchivePath.maximumDepth else {
            throw PenError("pen cp: \(shown) is deeper than \(ArchivePath.maximumDepth) directories")
        }
        // Twice at most: a file or directory that turns into a link between fstatat and open
        // is looked at again, and then sent as the link it now is.
        for _ in 0..<2 {
            var st = stat()
            guard name.withCString({ fstatat(dir, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw PenError.system("pen cp: cannot read \(shown)")
            }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                if try addLink(name, in: dir, as: archiveName, st) { return }
                continue  // no longer a link: look again
            case S_IFREG, S_IFDIR:
                let directory = (st.st_mode & S_IFMT) == S_IFDIR
                let flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (directory ? O_DIRECTORY : 0)
                let fd = name.withCString { openat(dir, $0, flags) }
                if fd < 0 && (errno == ELOOP || errno == ENOTDIR) { continue }  // swapped: look again
                guard fd >= 0 else { throw PenError.system("pen cp: cannot read \(shown)") }
                defer { close(fd) }
                var opened = stat()
                guard fstat(fd, &opened) == 0 else { throw PenError.system("pen cp: cannot read \(shown)") }
                switch opened.st_mode & S_IFMT {
                case S_IFREG: return try addFile(fd, as: archiveName, opened)
                case S_IFDIR: return try addDirectory(fd, as: archiveName, opened, depth: depth)
                default: continue
                }
            default:
                throw PenError("pen cp: \(shown) is not a file, directory or symlink", fix: "copy files, directories and symlinks only")
            }
        }
        throw PenError("pen cp: \(shown) keeps changing while it is copied", fix: "copy it again when nothing is changing it")
    }

    /// False when `name` is no longer a link (swapped since fstatat): nothing was written.
    private mutating func addLink(_ name: PathComponent, in dir: Int32, as archiveName: [UInt8], _ st: stat) throws(PenError) -> Bool {
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = name.withCString { c in target.withUnsafeMutableBufferPointer { readlinkat(dir, c, $0.baseAddress!, Int(PATH_MAX)) } }
        if n < 0 && (errno == EINVAL || errno == ENOENT) { return false }
        guard n >= 0 else { throw PenError.system("pen cp: cannot read the link \(GuestText.printable(archiveName))") }
        try writeHeader(archiveName, st) { entry in
            PathComponent(bytes: Array(target[0..<n])).withCString { archive_entry_set_symlink(entry, $0) }
        }
        return true
    }

    private mutating func addFile(_ fd: Int32, as archiveName: [UInt8], _ st: stat) throws(PenError) {
        try writeHeader(archiveName, st) { _ in }
        // Exactly the size in the header: a file that shrinks is padded by libarchive, one that
        // grows is cut.
        var left = Int(st.st_size)
        while left > 0 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, min($0.count, left)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw PenError.system("pen cp: cannot read \(GuestText.printable(archiveName))") }
            if n == 0 { break }
            guard chunk.withUnsafeBytes({ archive_write_data(writer, $0.baseAddress!, n) }) == n else {
                throw HostTarWriter.failure(writer, "pen cp: cannot copy \(GuestText.printable(archiveName))")
            }
            left -= n
        }
    }

    private mutating func addDirectory(_ fd: Int32, as archiveName: [UInt8], _ st: stat, depth: Int) throws(PenError) {
        try writeHeader(archiveName, st) { _ in }
        let children = TreeRemoval.entries(of: fd).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        for child in children {
            try add(child, in: fd, as: archiveName + [ArchivePath.slash] + child.bytes, depth: depth + 1)
        }
    }

    private mutating func writeHeader(_ archiveName: [UInt8], _ st: stat, _ fill: (OpaquePointer) -> Void) throws(PenError) {
        guard let entry = archive_entry_new() else { throw PenError("libarchive: out of memory") }
        defer { archive_entry_free(entry) }
        var copy = st
        archive_entry_copy_stat(entry, &copy)
        PathComponent(bytes: archiveName).withCString { archive_entry_set_pathname(entry, $0) }
        if let user = userName(st.st_uid) { archive_entry_set_uname(entry, user) }
        if let group = groupName(st.st_gid) { archive_entry_set_gname(entry, group) }
        fill(entry)
        guard archive_write_header(writer, entry) >= ARCHIVE_WARN else {
            throw HostTarWriter.failure(writer, "pen cp: cannot copy \(GuestText.printable(archiveName))")
        }
    }

    /// Owner names, so the guest's tar maps them like `tar` would (looked up once each).
    private mutating func userName(_ uid: uid_t) -> String? {
        if let known = users[uid] { return known }
        var pw = passwd(), result: UnsafeMutablePointer<passwd>?
        users[uid] = Self.lookUp { getpwuid_r(uid, &pw, $0, $1, &result) == 0 && result != nil ? pw.pw_name : nil }
        return users[uid] ?? nil
    }

    private mutating func groupName(_ gid: gid_t) -> String? {
        if let known = groups[gid] { return known }
        var gr = group(), result: UnsafeMutablePointer<group>?
        groups[gid] = Self.lookUp { getgrgid_r(gid, &gr, $0, $1, &result) == 0 && result != nil ? gr.gr_name : nil }
        return groups[gid] ?? nil
    }

    /// Runs a reentrant passwd/group lookup with a scratch buffer; its name, if found.
    private static func lookUp(_ call: (UnsafeMutablePointer<CChar>, Int) -> UnsafeMutablePointer<CChar>?) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        return buffer.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count).map { String(cString: $0) } }
    }
}
