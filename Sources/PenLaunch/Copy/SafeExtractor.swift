// A tar from the VM onto the host. The VM is not trusted: every path is taken as BYTES, split
// on '/' only, and must stay under its top-level name inside the destination (no absolute
// path, no ".."); every directory on the way is opened without following links, so a symlink
// in the archive can never carry a later entry out of the destination; device nodes, FIFOs,
// sockets and setuid/setgid bits are refused. Files belong to the user running pen; modes are
// kept less the user's umask, times are kept; a directory that was already there keeps its
// own. Holes stay holes, and the copy stops before the destination's filesystem runs out of
// its reserve, removing what it created. Names from the archive are printed through GuestText.
import CArchive
import Foundation
import PenCore
import ProfileBuilder

final class SafeExtractor {
    let destination: Int32
    /// Top-level names allowed in the archive, and the name each gets in the destination.
    let renames: [PathComponent: PathComponent]
    let umask: mode_t
    let space: SpaceReserve
    private let chain: DirectoryChain
    /// Entries this copy created inside directories that were already there: removing them
    /// (with what is under them) undoes the copy. One per top-level item in the usual copy.
    /// Bounded in count and in bytes (each path's names, plus 48 bytes a component for its
    /// array); past either bound nothing more is recorded and a removal says it is partial.
    private var createdRoots: [[PathComponent]] = []
    private let recordLimit: (count: Int, bytes: Int)
    private var createdRootsOverflowed = false
    /// How many paths, and how many bytes, are recorded (for tests).
    var recordedRoots: Int { createdRoots.count }
    private(set) var recordedRootBytes = 0

    /// `destination` is an open directory (kept open by the caller); `renames` maps each
    /// allowed top-level name (bytes) to its name in the destination.
    init(destination: Int32, renames: [[UInt8]: [UInt8]], umask: mode_t = SafeExtractor.processUmask(),
         space: SpaceReserve = SpaceReserve(), recordLimit: (count: Int, bytes: Int) = (100_000, 64 << 20)) {
        self.recordLimit = recordLimit
        self.destination = destination
        self.renames = Dictionary(renames.map { (PathComponent(bytes: $0.key), PathComponent(bytes: $0.value)) },
                                  uniquingKeysWith: { a, _ in a })
        self.umask = umask
        self.space = space
        chain = DirectoryChain(root: destination)
    }

    /// Reads the tar from `fd` to its end.
    func extract(from fd: Int32) throws(PenError) {
        guard let a = archive_read_new() else { throw PenError("libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK else { throw failure(a, "pen cp: cannot read the copy") }
        do throws(PenError) {
            while true {
                var entry: OpaquePointer?
                let r = archive_read_next_header(a, &entry)
                if r == ARCHIVE_EOF { break }
                guard r >= ARCHIVE_WARN, let entry else { throw failure(a, "pen cp: cannot read the copy") }
                try extract(entry, archive: a)
            }
            chain.leave(downTo: 0)  // the last directories get their modes and times
        } catch {
            // A copy about to be removed keeps its directories as they are (0700): a mode
            // from the archive such as 000 would shut the user out of removing them.
            chain.leave(downTo: 0, finishing: !space.exhausted)
            guard space.exhausted else { throw error }
            throw removingTheCopy(error)
        }
    }

    /// A copy stopped for space: what it created is removed, and the error says whether all
    /// of it was (never claiming more than was done).
    private func removingTheCopy(_ error: PenError) -> PenError {
        let left = removeCreated()
        var stopped = error
        let fix = stopped.fix ?? "free some space there or copy less"
        if let first = left.first {
            let shown = GuestText.printable(first.flatMap { $0.bytes + [ArchivePath.slash] }.dropLast(), limit: 200)
            stopped.fix = fix + "; what this copy wrote was not removed entirely: '\(shown)'"
                + (left.count > 1 ? " and \(left.count - 1) more stay" : " stays")
        } else if createdRootsOverflowed {
            stopped.fix = fix + "; what this copy wrote was not removed entirely: it made more than pen keeps track of, look in the destination"
        } else {
            stopped.fix = fix + " (what this copy wrote was removed)"
        }
        return stopped
    }

    private func extract(_ entry: OpaquePointer, archive a: OpaquePointer) throws(PenError) {
        let raw = ArchivePath.bytes(archive_entry_pathname(entry))
        let path = try components(raw)
        var shown: String { GuestText.printable(raw, limit: 200) }  // only for messages
        let mode = mode_t(archive_entry_perm(entry))
        guard mode & (S_ISUID | S_ISGID) == 0 else {
            throw PenError("pen cp: refused '\(shown)': it has the setuid or setgid bit", fix: "clear it in the VM (chmod u-s,g-s) and copy again")
        }
        let type = UInt32(archive_entry_filetype(entry))
        let hardlink = archive_entry_hardlink(entry)
        guard hardlink != nil || [FileType.directory, FileType.regular, FileType.symlink].contains(type) else {
            throw PenError("pen cp: refused '\(shown)': device nodes, FIFOs and sockets are not copied to the host")
        }
        let (parent, parentCreated) = try enter(path.dropLast(), shown)
        let name = path.last!
        let kept = mode & 0o1777 & ~umask
        let time = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: Int(archive_entry_mtime_nsec(entry)))
        try space.willCreate(on: parent)
        if let hardlink {
            let target = try components(ArchivePath.bytes(hardlink))
            let targetParent = try openDirectory(target.dropLast(), shown)
            defer { close(targetParent) }
            try removeExisting(parent, name, shown)
            let linked = target.last!.withCString { t in name.withCString { linkat(targetParent, t, parent, $0, 0) } }
            guard linked == 0 else { throw space.failed("pen cp: cannot link '\(shown)'") }
            created(path, in: parentCreated)
            return
        }
        switch type {
        case FileType.directory:
            let made = name.withCString { mkdirat(parent, $0, 0o700) } == 0
            guard made || errno == EEXIST else { throw space.failed("pen cp: cannot create '\(shown)'") }
            let fd = name.withCString { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw PenError("pen cp: refused '\(shown)': a non-directory is in the way") }
            if made { created(path, in: parentCreated) }
            // A directory that was already there keeps its mode and times.
            chain.push(name, fd: fd, made: made, finish: made ? DirectoryChain.Finish(mode: kept, time: time) : nil)
        case FileType.regular:
            try removeExisting(parent, name, shown)
            let fd = name.withCString { openat(parent, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
            guard fd >= 0 else { throw space.failed("pen cp: cannot create '\(shown)'") }
            defer { close(fd) }
            created(path, in: parentCreated)
            try SparseFileWriter.copy(a, to: fd, size: archive_entry_size(entry), space: space, name: { "'\(shown)'" })
            fchmod(fd, kept)
            var times = [time, time]
            futimens(fd, &times)
        default:  // a symlink: its target is text, never followed here
            let target = ArchivePath.bytes(archive_entry_symlink(entry))
            try removeExisting(parent, name, shown)
            let linked = PathComponent(bytes: target).withCString { t in name.withCString { symlinkat(t, parent, $0) } }
            guard linked == 0 else { throw space.failed("pen cp: cannot create the link '\(shown)'") }
            created(path, in: parentCreated)
            var times = [time, time]
            _ = name.withCString { utimensat(parent, $0, &times, AT_SYMLINK_NOFOLLOW) }
        }
    }

    /// The entry's path as components under an allowed top-level name (renamed), or an error
    /// for an absolute path, `..`, or a name outside the copy.
    private func components(_ raw: [UInt8]) throws(PenError) -> [PathComponent] {
        var shown: String { GuestText.printable(raw, limit: 200) }
        switch ArchivePath.components(raw) {
        case .failure(.tooDeep):
            throw PenError("pen cp: refused '\(shown)': deeper than \(ArchivePath.maximumDepth) directories")
        case .failure:
            throw PenError("pen cp: refused '\(shown)': it would land outside the destination")
        case .success(var parts):
            guard let renamed = renames[parts[0]] else {
                throw PenError("pen cp: refused '\(shown)': it would land outside the destination")
            }
            parts[0] = renamed
            return parts
        }
    }

    /// The current directory chain moved to `path`.
    private func enter(_ path: ArraySlice<PathComponent>, _ shown: @autoclosure () -> String) throws(PenError) -> (Int32, Bool) {
        let entered: (fd: Int32, created: Bool)
        do throws(DirectoryChain.NotADirectory) {
            entered = try chain.enter(path)
        } catch {
            throw refusedNotADirectory(error.name, shown())
        }
        return entered
    }

    /// A directory opened on its own from the destination (a hard link's target), no link followed.
    private func openDirectory(_ path: ArraySlice<PathComponent>, _ shown: @autoclosure () -> String) throws(PenError) -> Int32 {
        var dir = dup(destination)
        for name in path {
            let next = name.withCString { openat(dir, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            close(dir)
            guard next >= 0 else { throw refusedNotADirectory(name, shown()) }
            dir = next
        }
        return dir
    }

    private func refusedNotADirectory(_ name: PathComponent, _ shown: String) -> PenError {
        PenError("pen cp: refused '\(shown)': \(GuestText.printable(name.bytes, limit: 100)) is not a directory in the copy (a link is never followed)")
    }

    /// A file, link or empty directory already there is replaced (like cp); a directory with
    /// files is not.
    private func removeExisting(_ parent: Int32, _ name: PathComponent, _ shown: @autoclosure () -> String) throws(PenError) {
        var st = stat()
        guard name.withCString({ fstatat(parent, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { return }
        let flags = (st.st_mode & S_IFMT) == S_IFDIR ? AT_REMOVEDIR : 0
        guard name.withCString({ unlinkat(parent, $0, flags) }) == 0 else { throw PenError.system("pen cp: cannot replace '\(shown())'") }
    }

    /// Notes an entry this copy created, when its directory was already there.
    private func created(_ path: [PathComponent], in parentCreated: Bool) {
        guard !parentCreated else { return }
        let bytes = path.reduce(0) { $0 + $1.bytes.count + 48 }
        guard createdRoots.count < recordLimit.count, recordedRootBytes + bytes <= recordLimit.bytes else {
            createdRootsOverflowed = true
            return
        }
        createdRoots.append(path)
        recordedRootBytes += bytes
    }

    /// Undoes the copy: removes what it created (never following a link). Returns the paths
    /// (in the destination) of what stays.
    private func removeCreated() -> [[PathComponent]] {
        var left: [[PathComponent]] = []
        for path in createdRoots.reversed() {
            guard let parent = try? openDirectory(path.dropLast(), "") else { left.append(path); continue }
            if !TreeRemoval.remove(path.last!, in: parent) { left.append(path) }
            close(parent)
        }
        return left
    }

    private func failure(_ a: OpaquePointer, _ what: String) -> PenError {
        PenError(what, cause: archive_error_string(a).map { GuestText.printable(String(cString: $0), limit: 300) })
    }

    /// The process's umask, read without changing it (/proc/self/status; 022 if unreadable).
    static func processUmask() -> mode_t {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
              let value = mode_t(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8)
        else { return 0o022 }
        return value
    }
}
