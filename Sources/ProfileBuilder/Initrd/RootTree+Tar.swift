// Builds a RootTree from a plain, uncompressed tar: what a builder VM's GNU tar and
// mmdebstrap --format=tar write, and nothing else (no compression filter, no other archive
// format: each is more of libarchive for a hostile guest to reach). Member names are
// untrusted: they are normalised and anything absolute or escaping the root is refused.
// File contents go to a spool file on disk, and what they expand to (sparse holes, hard-link
// copies: each becomes its own copy in the image) counts against a byte budget, so neither
// memory nor the image can grow past it whatever the archive claims.

import CArchive
import Foundation
import PenCore

extension RootTree {
    /// The most the files of a tree read from an archive may add up to (as the image stores them).
    public static let defaultMaxBytes: UInt64 = SupervisorPlan.defaultArchiveLimit
    /// More entries than any Debian root has; each costs memory whatever its size.
    public static let defaultMaxEntries = 2_000_000

    /// - Parameter spoolDirectory: where the files' contents are kept while the tree lives
    ///   (default: the archive's directory, a build's scratch directory).
    public static func readTar(path: String, spoolDirectory: String? = nil,
                               maxBytes: UInt64 = defaultMaxBytes, maxEntries: Int = defaultMaxEntries) throws -> RootTree {
        let directory = spoolDirectory ?? (path as NSString).deletingLastPathComponent
        let limits = Limits(bytes: maxBytes, entries: maxEntries)
        return try read(source: path, spoolDirectory: directory.isEmpty ? "." : directory, limits: limits) { a in
            archive_read_open_filename(a, path, readBlockSize)
        }
    }

    /// Reads the tar at `path` and frees its blocks as they are read (the file is the caller's to
    /// remove after): while a build's root moves into the spool, the disk holds it about once.
    public static func readTar(consuming path: String, spoolDirectory: String,
                               maxBytes: UInt64 = defaultMaxBytes, maxEntries: Int = defaultMaxEntries) throws -> RootTree {
        let fd = try SafeFiles.openNoFollow(path, O_RDWR)
        defer { close(fd) }
        return try read(source: path, spoolDirectory: spoolDirectory, limits: Limits(bytes: maxBytes, entries: maxEntries),
                        consumed: fd) { a in
            archive_read_open_fd(a, fd, readBlockSize)
        }
    }

    /// Reads from the descriptor's current position; the descriptor is left open.
    public static func readTar(fileDescriptor: Int32, spoolDirectory: String,
                               maxBytes: UInt64 = defaultMaxBytes, maxEntries: Int = defaultMaxEntries) throws -> RootTree {
        try read(source: "file descriptor \(fileDescriptor)", spoolDirectory: spoolDirectory,
                 limits: Limits(bytes: maxBytes, entries: maxEntries)) { a in
            archive_read_open_fd(a, fileDescriptor, readBlockSize)
        }
    }

    private static let readBlockSize = 1 << 20
    /// How much of a consumed tar is freed at a time.
    private static let punchStep: Int64 = 8 << 20

    struct Limits {
        var bytes: UInt64
        var entries: Int
    }

    /// What one read has used of its limits.
    private struct Budget {
        let source: String
        let limits: Limits
        var bytes: UInt64 = 0
        var entries = 0

        mutating func charge(_ n: UInt64, for name: [UInt8]) throws {
            guard n <= limits.bytes - bytes else {
                throw InitrdError.tooLarge(source: source, entry: RootPath.display(name), limit: limits.bytes)
            }
            bytes += n
        }

        mutating func countEntry() throws {
            entries += 1
            guard entries <= limits.entries else { throw InitrdError.tooManyEntries(source: source, limit: limits.entries) }
        }
    }

    /// `consumed`: the source's descriptor, whose blocks already read are freed as reading goes.
    private static func read(source: String, spoolDirectory: String, limits: Limits, consumed: Int32? = nil,
                             open: (OpaquePointer) -> Int32) throws -> RootTree {
        guard let a = archive_read_new() else {
            throw InitrdError.tarOpen(source: source, reason: "out of memory")
        }
        defer { archive_read_free(a) }
        archive_read_support_filter_none(a)
        archive_read_support_format_tar(a)
        guard open(a) == ARCHIVE_OK else {
            throw InitrdError.tarOpen(source: source, reason: archiveErrorText(a) + " (only a plain, uncompressed tar is read)")
        }

        var tree = RootTree()
        let spool = try FileSpool(directory: spoolDirectory)
        tree.spool = spool
        var budget = Budget(source: source, limits: limits)
        var spoolEnd: UInt64 = 0
        var punched: Int64 = 0
        while true {
            var entryPointer: OpaquePointer?
            let r = archive_read_next_header(a, &entryPointer)
            if r == ARCHIVE_EOF { break }
            if r == ARCHIVE_RETRY { continue }
            // ARCHIVE_WARN still delivers a usable header (e.g. a name that could not
            // be converted to the C locale keeps its raw bytes), so only stop on worse.
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry = entryPointer else {
                throw InitrdError.tarRead(source: source, reason: archiveErrorText(a))
            }
            try budget.countEntry()
            try readMember(a, entry, spool: spool, spoolEnd: &spoolEnd, budget: &budget, into: &tree)
            if let consumed {
                // What libarchive has read from the file is in the spool or its buffer: never read again.
                let read = archive_filter_bytes(a, -1) & ~Int64(punchStep - 1)
                if read - punched >= punchStep, FileHoles.punch(consumed, upTo: read) { punched = read }
            }
        }
        return tree
    }

    private static func readMember(_ a: OpaquePointer, _ entry: OpaquePointer, spool: FileSpool, spoolEnd: inout UInt64,
                                   budget: inout Budget, into tree: inout RootTree) throws {
        let source = budget.source
        guard let rawName = memberName(archive_entry_pathname(entry) ?? archive_entry_pathname_utf8(entry)) else {
            throw InitrdError.tarRead(source: source, reason: "a member has no name")
        }
        // Linux's own limits, before any work that grows with a name's length.
        guard rawName.count <= 4096 else { throw InitrdError.nameTooLong(source: source, entry: RootPath.display(rawName)) }
        let path: [UInt8]
        switch RootPath.normalise(rawName, allowAbsolute: false) {
        case .root: return  // the root directory itself is never an entry
        case .absolute, .escapes: throw InitrdError.unsafePath(source: source, entry: RootPath.display(rawName))
        case .path(let p): path = p
        }
        if path.split(separator: RootPath.slash).contains(where: { $0.count > 255 }) {
            throw InitrdError.nameTooLong(source: source, entry: RootPath.display(path))
        }
        if let parent = tree.nonDirectoryAncestor(of: path) {
            throw InitrdError.parentNotDirectory(source: source, entry: RootPath.display(path), parent: RootPath.display(parent))
        }
        // A real root never replaces a directory by a file, and each such replacement would cost
        // a scan of the whole tree.
        let replacesDirectory = tree.entry(atNormalised: path)?.kind == .directory
        func insert(_ e: RootEntry) throws {
            if replacesDirectory && e.kind != .directory {
                throw InitrdError.replacesDirectory(source: source, entry: RootPath.display(path))
            }
            for _ in 0..<tree.insertNormalised(e) { try budget.countEntry() }  // the parents it made count too
        }

        // Hard links share an inode, so the copy takes the target's metadata and data
        // (and the image stores the data again: it counts again).
        if let rawTarget = archive_entry_hardlink(entry) {
            let targetName = memberName(rawTarget) ?? []
            guard case .path(let targetPath) = RootPath.normalise(targetName, allowAbsolute: false),
                  var copy = tree.entry(atNormalised: targetPath), copy.kind == .file else {
                throw InitrdError.badHardLink(source: source, entry: RootPath.display(path), target: RootPath.display(targetName))
            }
            try budget.charge(copy.size, for: path)
            copy.pathBytes = path
            try insert(copy)
            return
        }

        func id(_ field: String, _ v: Int64) throws -> UInt32 {
            guard let x = UInt32(exactly: v) else {
                throw InitrdError.valueOutOfRange(source: source, entry: RootPath.display(path), field: field, value: v)
            }
            return x
        }
        var e = RootEntry(path: "", kind: .file, mode: UInt32(archive_entry_perm(entry)) & 0o7777,
                          uid: try id("uid", archive_entry_uid(entry)),
                          gid: try id("gid", archive_entry_gid(entry)))
        e.pathBytes = path
        let type = UInt32(archive_entry_filetype(entry))
        switch type {
        case FileType.regular:
            e.spooled = try spoolData(a, entry, name: path, spool: spool, at: spoolEnd, budget: &budget)
            spoolEnd += e.spooled!.length
        case FileType.directory:
            e.kind = .directory
        case FileType.symlink:
            e.kind = .symlink
            e.linkTargetBytes = memberName(archive_entry_symlink(entry) ?? archive_entry_symlink_utf8(entry)) ?? []
            guard e.linkTargetBytes.count <= 4095 else { throw InitrdError.nameTooLong(source: source, entry: RootPath.display(path)) }
        case FileType.characterDevice, FileType.blockDevice:
            e.kind = type == FileType.characterDevice ? .characterDevice : .blockDevice
            e.deviceMajor = try id("device major", Int64(archive_entry_rdevmajor(entry)))
            e.deviceMinor = try id("device minor", Int64(archive_entry_rdevminor(entry)))
        case FileType.fifo:
            e.kind = .fifo
        case FileType.socket:
            e.kind = .socket
        default:
            throw InitrdError.unsupportedEntryType(source: source, entry: RootPath.display(path), type: type)
        }
        try insert(e)
    }

    /// Copies a regular member's body to the spool at `start`, block by block as libarchive
    /// delivers it: sparse holes are skipped (the spool file gets holes there too), never filled
    /// in memory. The member's size (the archive's word, sparse holes included) is charged before
    /// a byte is read, so a forged size is refused at once; blocks past it are charged as they come.
    private static func spoolData(_ a: OpaquePointer, _ entry: OpaquePointer, name: [UInt8], spool: FileSpool,
                                  at start: UInt64, budget: inout Budget) throws -> SpoolRange {
        let declared = archive_entry_size_is_set(entry) != 0 ? UInt64(max(archive_entry_size(entry), 0)) : 0
        try budget.charge(declared, for: name)
        var length = declared
        let source = budget.source
        try ArchiveDataBlocks.forEach(a, failed: { () -> any Error in
            InitrdError.tarRead(source: source, reason: "\(RootPath.display(name)): \(archiveErrorText(a))")
        }) { (block, offset) throws in
            let end = UInt64(offset) + UInt64(block.count)
            if end > length {
                try budget.charge(end - length, for: name)
                length = end
            }
            if block.count > 0 { try spool.write(block, at: start + UInt64(offset)) }
        }
        // A trailing hole (or an empty file) is only a length: the spool file is extended over it.
        try spool.extend(to: start + length)
        return SpoolRange(offset: start, length: length)
    }

    /// A member name's raw bytes: names are bytes, whatever their encoding.
    private static func memberName(_ p: UnsafePointer<CChar>?) -> [UInt8]? {
        guard let p else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
    }
}

/// libarchive's AE_IF* file-type constants (cast macros do not import into Swift).
public enum FileType {
    public static let regular: UInt32 = 0o100000
    public static let directory: UInt32 = 0o040000
    public static let symlink: UInt32 = 0o120000
    public static let characterDevice: UInt32 = 0o020000
    public static let blockDevice: UInt32 = 0o060000
    public static let fifo: UInt32 = 0o010000
    public static let socket: UInt32 = 0o140000
}

/// The archive's current error message, or a generic one if libarchive has none.
/// libarchive's message, with the system error behind it (its "Write error" alone does not
/// say that the disk is full) and the fix where there is one.
func archiveErrorText(_ a: OpaquePointer) -> String {
    let message = archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    let err = archive_errno(a)
    // libarchive's own error classes (format, misuse, misc) are EILSEQ, EINVAL and -1 on Linux.
    guard err > 0, err != EILSEQ, err != EINVAL else {
        return message
    }
    let system = String(cString: strerror(err))
    return (message.contains(system) ? message : "\(message) (\(system))") + (PenError.fix(for: err).map { "; " + $0 } ?? "")
}
