// Turns a RootTree into the guest's initrd: a cpio "newc" archive (the format
// the kernel's initramfs unpacker reads) compressed with zstd. The output is a
// pure function of the tree's content and the level: entries are sorted, and
// every field that would leak time, host or insertion order is fixed.

import PenCore
import CArchive
import Foundation

public struct PackResult: Sendable {
    public var compressedBytes: UInt64
    public var unpackedBytes: UInt64
    public var entryCount: Int
    /// Lower-case hex SHA-256 of the compressed file.
    public var sha256: String
}

public enum InitrdPacker {
    /// mtime of every entry (the epoch): build time must not reach the bytes.
    static let fixedModificationTime = 0
    /// Levels libzstd accepts without "ultra" caveats beyond memory; 0 and negatives are refused.
    static let validLevels = 1...22

    /// Writes the tree as cpio newc + zstd to `path` atomically: a temp file in the
    /// same directory created with O_CREAT|O_EXCL|O_NOFOLLOW, fsync, rename over
    /// `path`, fsync the directory. On error the previous file at `path` is intact
    /// and the temp is removed.
    public static func pack(_ tree: RootTree, to path: String, zstdLevel: Int = 3) throws -> PackResult {
        try pack(tree, to: path, zstdLevel: zstdLevel, hooks: TestHooks())
    }

    /// Lets tests fix the temporary's name and make the write fail midway.
    struct TestHooks {
        var temporaryPath: String? = nil
        var failAfterEntries: Int? = nil
    }

    static func pack(_ tree: RootTree, to path: String, zstdLevel: Int, hooks: TestHooks) throws -> PackResult {
        guard validLevels.contains(zstdLevel) else {
            throw InitrdError.invalidCompressionLevel(destination: path, level: zstdLevel)
        }
        let entries = tree.sortedEntries()
        var out = try AtomicFile.create(destination: path, temporaryPath: hooks.temporaryPath)
        defer { out.discard() }  // no-op once committed

        try writeArchive(entries, of: tree, fd: out.fd, level: zstdLevel, label: path, hooks: hooks)
        try out.sync()
        var st = stat()
        guard fstat(out.fd, &st) == 0 else { throw InitrdError.sync(path: out.temporaryPath, errno: errno) }
        let sha = try SHA256File.hex(fileDescriptor: out.fd, path: out.temporaryPath)
        try out.commit()
        return PackResult(compressedBytes: UInt64(st.st_size), unpackedBytes: tree.unpackedBytes,
                          entryCount: entries.count, sha256: sha)
    }

    private static func writeArchive(_ entries: [RootEntry], of tree: RootTree, fd: Int32, level: Int,
                                     label: String, hooks: TestHooks) throws {
        guard let a = archive_write_new() else {
            throw InitrdError.write(path: label, reason: "out of memory")
        }
        defer { archive_write_free(a) }
        func check(_ r: Int32, _ what: String) throws {
            guard r == ARCHIVE_OK else {
                throw InitrdError.write(path: label, reason: "\(what): \(archiveErrorText(a))")
            }
        }
        try check(archive_write_set_format_cpio_newc(a), "cpio newc format")
        try check(archive_write_add_filter_zstd(a), "zstd filter")
        // libarchive 3.6.2's zstd filter option is "compression-level".
        try check(archive_write_set_filter_option(a, "zstd", "compression-level", String(level)),
                  "zstd level \(level)")
        // No zero padding after the zstd frame: `zstd -d` would reject it as garbage.
        try check(archive_write_set_bytes_per_block(a, 64 * 1024), "block size")
        try check(archive_write_set_bytes_in_last_block(a, 1), "last block size")
        try check(archive_write_open_fd(a, fd), "open")

        guard let entry = archive_entry_new() else {
            throw InitrdError.write(path: label, reason: "out of memory")
        }
        defer { archive_entry_free(entry) }

        for (index, e) in entries.enumerated() {
            if let limit = hooks.failAfterEntries, index == limit {
                throw InitrdError.write(path: label, reason: "injected failure after \(limit) entries")
            }
            if e.size > UInt64(UInt32.max) {
                throw InitrdError.entryTooLarge(destination: label, entry: RootPath.display(e.pathBytes), size: e.size)
            }
            archive_entry_clear(entry)
            fill(entry, from: e, inode: index + 1)
            try check(archive_write_header(a, entry), RootPath.display(e.pathBytes))
            try tree.forEachChunk(of: e) { buf in
                var offset = 0
                while offset < buf.count {
                    let n = archive_write_data(a, buf.baseAddress! + offset, buf.count - offset)
                    guard n > 0 else {
                        throw InitrdError.write(path: label, reason: "\(RootPath.display(e.pathBytes)): \(archiveErrorText(a))")
                    }
                    offset += n
                }
            }
        }
        // Close writes the TRAILER!!! entry and ends the zstd frame.
        try check(archive_write_close(a), "finish")
    }

    /// Sets only content-derived fields; the rest (dev, uname/gname) stay zero/absent.
    private static func fill(_ entry: OpaquePointer, from e: RootEntry, inode: Int) {
        withCString(e.pathBytes) { archive_entry_set_pathname(entry, $0) }
        archive_entry_set_perm(entry, mode_t(e.mode & 0o7777))
        archive_entry_set_uid(entry, Int64(e.uid))
        archive_entry_set_gid(entry, Int64(e.gid))
        archive_entry_set_mtime(entry, time_t(fixedModificationTime), 0)
        // Sequential in sorted order, so numbering does not depend on insertion order.
        archive_entry_set_ino64(entry, Int64(inode))
        // Every entry is its own inode (hard links were copied), so no file has
        // nlink > 1 and the kernel never tries to link entries together.
        archive_entry_set_nlink(entry, e.kind == .directory ? 2 : 1)
        archive_entry_set_size(entry, 0)
        switch e.kind {
        case .file:
            archive_entry_set_filetype(entry, FileType.regular)
            archive_entry_set_size(entry, Int64(e.size))
        case .directory:
            archive_entry_set_filetype(entry, FileType.directory)
        case .symlink:
            archive_entry_set_filetype(entry, FileType.symlink)
            // The newc writer stores the target as the entry's body.
            withCString(e.linkTargetBytes) { archive_entry_set_symlink(entry, $0) }
        case .characterDevice, .blockDevice:
            archive_entry_set_filetype(entry, e.kind == .characterDevice ? FileType.characterDevice
                                                                        : FileType.blockDevice)
            archive_entry_set_rdevmajor(entry, dev_t(e.deviceMajor))
            archive_entry_set_rdevminor(entry, dev_t(e.deviceMinor))
        case .fifo:
            archive_entry_set_filetype(entry, FileType.fifo)
        case .socket:
            archive_entry_set_filetype(entry, FileType.socket)
        }
    }
}

/// Bytes as a C string, whatever their encoding (a NUL inside cuts the name, as in any C API).
private func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
    (bytes + [0]).withUnsafeBufferPointer { buf in
        buf.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
    }
}
