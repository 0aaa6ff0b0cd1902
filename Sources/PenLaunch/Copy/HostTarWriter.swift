// Host files into a tar stream for the VM: each source under its own name, with its modes,
// owners and times, symlinks as links (never followed), directories recursively. Only files,
// directories and symlinks go: a device node or a socket on the host is refused, not copied.
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
        for source in sources {
            try add(source, to: writer)
        }
        guard archive_write_close(writer) == ARCHIVE_OK else { throw failure(writer, "cannot finish the copy") }
    }

    private static func add(_ source: String, to writer: OpaquePointer) throws(PenError) {
        var trimmed = Substring(source)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let path = String(trimmed)
        var st = stat()
        guard lstat(path, &st) == 0 else { throw PenError.system("pen cp: cannot read \(path)") }
        let name = (path as NSString).lastPathComponent
        guard !name.isEmpty, name != "/", name != ".", name != ".." else {
            throw PenError("pen cp: give a file or directory by name, not \(path)", fix: "e.g. pen cp ./src dev:/root/")
        }
        guard let disk = archive_read_disk_new() else { throw PenError("libarchive: out of memory") }
        defer { archive_read_free(disk) }
        archive_read_disk_set_symlink_physical(disk)
        archive_read_disk_set_standard_lookup(disk)
        archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS)
        guard archive_read_disk_open(disk, path) == ARCHIVE_OK else { throw failure(disk, "pen cp: cannot read \(path)") }
        let prefix = path
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            guard let entry = archive_entry_new() else { throw PenError("libarchive: out of memory") }
            defer { archive_entry_free(entry) }
            let r = archive_read_next_header2(disk, entry)
            if r == ARCHIVE_EOF { break }
            guard r >= ARCHIVE_WARN else { throw failure(disk, "pen cp: cannot read under \(path)") }
            let full = String(cString: archive_entry_pathname(entry))
            let type = UInt32(archive_entry_filetype(entry))
            guard type == FileType.regular || type == FileType.directory || type == FileType.symlink else {
                throw PenError("pen cp: \(full) is not a file, directory or symlink", fix: "copy files, directories and symlinks only")
            }
            archive_entry_set_pathname(entry, name + full.dropFirst(prefix.count))
            archive_read_disk_descend(disk)
            guard archive_write_header(writer, entry) >= ARCHIVE_WARN else { throw failure(writer, "pen cp: cannot copy \(full)") }
            guard type == FileType.regular else { continue }
            while true {
                let n = archive_read_data(disk, &chunk, chunk.count)
                if n == 0 { break }
                guard n > 0 else { throw failure(disk, "pen cp: cannot read \(full)") }
                guard archive_write_data(writer, chunk, n) == n else { throw failure(writer, "pen cp: cannot copy \(full)") }
            }
        }
    }

    private static func failure(_ a: OpaquePointer, _ what: String) -> PenError {
        PenError(what, cause: archive_error_string(a).map { String(cString: $0) })
    }
}
