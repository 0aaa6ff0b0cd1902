// Builds a RootTree from a tar (or any archive/compression libarchive can read),
// e.g. mmdebstrap's output. Member names are untrusted: they are normalised and
// anything absolute or escaping the root is refused.

import CArchive
import Foundation
import PenCore

extension RootTree {
    public static func readTar(path: String) throws -> RootTree {
        try read(source: path) { a in archive_read_open_filename(a, path, readBlockSize) }
    }

    /// Reads from the descriptor's current position; the descriptor is left open.
    public static func readTar(fileDescriptor: Int32) throws -> RootTree {
        try read(source: "file descriptor \(fileDescriptor)") { a in
            archive_read_open_fd(a, fileDescriptor, readBlockSize)
        }
    }

    private static let readBlockSize = 1 << 20
    static let maxReservedBytes = 64 << 20

    private static func read(source: String, open: (OpaquePointer) -> Int32) throws -> RootTree {
        guard let a = archive_read_new() else {
            throw InitrdError.tarOpen(source: source, reason: "out of memory")
        }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_all(a)
        guard open(a) == ARCHIVE_OK else {
            throw InitrdError.tarOpen(source: source, reason: archiveErrorText(a))
        }

        var tree = RootTree()
        var chunk = [UInt8](repeating: 0, count: readBlockSize)
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
            try readMember(a, entry, source: source, chunk: &chunk, into: &tree)
        }
        return tree
    }

    private static func readMember(_ a: OpaquePointer, _ entry: OpaquePointer, source: String,
                                   chunk: inout [UInt8], into tree: inout RootTree) throws {
        let rawName = try memberName(archive_entry_pathname(entry), source: source)
        let path: String
        switch RootPath.normalise(rawName, allowAbsolute: false) {
        case .root: return  // the root directory itself is never an entry
        case .absolute, .escapes: throw InitrdError.unsafePath(source: source, entry: rawName)
        case .path(let p): path = p
        }
        if let parent = tree.nonDirectoryAncestor(of: path) {
            throw InitrdError.parentNotDirectory(source: source, entry: path, parent: parent)
        }

        let data = try readData(a, entry, source: source, name: path, chunk: &chunk)

        // Hard links share an inode, so the copy takes the target's metadata and data.
        if let rawTarget = archive_entry_hardlink(entry) {
            let targetName = try memberName(rawTarget, source: source)
            guard case .path(let targetPath) = RootPath.normalise(targetName, allowAbsolute: false),
                  var copy = tree.entry(at: targetPath), copy.kind == .file else {
                throw InitrdError.badHardLink(source: source, entry: path, target: targetName)
            }
            // Some formats (cpio) put the shared data on a later link rather than the first.
            if !data.isEmpty && copy.data.isEmpty {
                copy.data = data
                tree.insertNormalised(copy)
            }
            copy.path = path
            tree.insertNormalised(copy)
            return
        }

        func id(_ field: String, _ v: Int64) throws -> UInt32 {
            guard let x = UInt32(exactly: v) else {
                throw InitrdError.valueOutOfRange(source: source, entry: path, field: field, value: v)
            }
            return x
        }
        var e = RootEntry(path: path, kind: .file, mode: UInt32(archive_entry_perm(entry)) & 0o7777,
                          uid: try id("uid", archive_entry_uid(entry)),
                          gid: try id("gid", archive_entry_gid(entry)))
        let type = UInt32(archive_entry_filetype(entry))
        switch type {
        case FileType.regular:
            e.data = data
        case FileType.directory:
            e.kind = .directory
        case FileType.symlink:
            e.kind = .symlink
            e.linkTarget = try memberName(archive_entry_symlink(entry), source: source)
        case FileType.characterDevice, FileType.blockDevice:
            e.kind = type == FileType.characterDevice ? .characterDevice : .blockDevice
            e.deviceMajor = try id("device major", Int64(archive_entry_rdevmajor(entry)))
            e.deviceMinor = try id("device minor", Int64(archive_entry_rdevminor(entry)))
        case FileType.fifo:
            e.kind = .fifo
        case FileType.socket:
            e.kind = .socket
        default:
            throw InitrdError.unsupportedEntryType(source: source, entry: path, type: type)
        }
        tree.insertNormalised(e)
    }

    /// Reads the member's body (empty for non-files). Sparse holes come back as zeros.
    private static func readData(_ a: OpaquePointer, _ entry: OpaquePointer, source: String,
                                 name: String, chunk: inout [UInt8]) throws -> [UInt8] {
        var data: [UInt8] = []
        // The size is the archive's word (a guest's, for a profile's root): a hint, never more
        // than a chunk of memory up front; a forged one runs into the end of the archive.
        if archive_entry_size_is_set(entry) != 0 {
            data.reserveCapacity(Int(clamping: min(max(archive_entry_size(entry), 0), Int64(maxReservedBytes))))
        }
        while true {
            let n = chunk.withUnsafeMutableBytes { buf in
                archive_read_data(a, buf.baseAddress, buf.count)
            }
            if n == 0 { break }
            if n < 0 {
                throw InitrdError.tarRead(source: source, reason: "\(name): \(archiveErrorText(a))")
            }
            data.append(contentsOf: chunk[0..<n])
        }
        return data
    }

    private static func memberName(_ p: UnsafePointer<CChar>?, source: String) throws -> String {
        guard let p else { return "" }
        guard let s = String(validatingCString: p) else {
            throw InitrdError.nonUTF8Path(source: source, entry: String(cString: p))
        }
        return s
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
