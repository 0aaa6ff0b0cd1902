// Reads a Debian .deb (an `ar` archive of debian-binary, control.tar.*, data.tar.*)
// with libarchive, so we need neither dpkg-deb nor root to look inside a package.
import CArchive

/// Whether a walk over data.tar goes on after an entry.
public enum DebWalkAction: Sendable, Equatable {
    case next, stop
}

/// The kind of filesystem object a tar entry describes.
public enum DebEntryType: Sendable, Equatable {
    case file, directory, symlink, hardlink, other
}

/// One entry of a package's data.tar, valid only during the callback that receives it.
public struct DebEntry {
    /// Path inside the package, without the leading "./" (e.g. "boot/vmlinuz-6.1.0-56-amd64").
    public let path: String
    public let type: DebEntryType
    /// Size in bytes as recorded in the tar header (0 for directories and links).
    public let size: Int
    /// Target of a symlink or hardlink.
    public let linkTarget: String?
    let source: DebEntrySource

    /// Reads this entry's contents. Data is decompressed only when asked for, so walking
    /// a 400 MB data.tar keeps just the entries we care about in memory. Call at most once.
    public func readData() throws -> [UInt8] { try source.read() }
}

/// Guards the archive handle so an entry's data is read only while it is the current entry.
final class DebEntrySource {
    private let reader: KernelArchiveReader
    private let path: String
    private let size: Int
    fileprivate var usable = true

    init(reader: KernelArchiveReader, path: String, size: Int) {
        self.reader = reader
        self.path = path
        self.size = size
    }

    func read() throws -> [UInt8] {
        guard usable else { throw KernelError.entryDataUnavailable(path: path) }
        usable = false
        return try reader.readData(sizeHint: size, what: "cannot read \(path)")
    }
}

/// A .deb whose control and data tarballs are held (still compressed) in memory.
/// Holding the compressed member lets us walk data.tar more than once without re-reading the file.
public struct DebArchive: Sendable {
    public let path: String
    /// Member names as found in the ar archive, e.g. "data.tar.xz".
    public let dataMemberName: String
    public let controlMemberName: String?
    let dataTar: [UInt8]
    let controlTar: [UInt8]?

    /// Opens the .deb and loads its control.tar.* and data.tar.* members.
    public init(path: String) throws {
        let reader = try KernelArchiveReader(context: path)
        archive_read_support_format_ar(reader.handle)
        try reader.check(archive_read_open_filename(reader.handle, path, 1 << 16), "cannot open package")

        var data: (String, [UInt8])?
        var control: (String, [UInt8])?
        while let entry = try reader.nextHeader() {
            var name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            // GNU ar terminates member names with "/"; libarchive usually strips it, but be sure.
            if name.hasSuffix("/") { name.removeLast() }
            let size = Int(archive_entry_size(entry))
            if name.hasPrefix("data.tar") && data == nil {
                data = (name, try reader.readData(sizeHint: size, what: "cannot read \(name)"))
            } else if name.hasPrefix("control.tar") && control == nil {
                control = (name, try reader.readData(sizeHint: size, what: "cannot read \(name)"))
            }
            if data != nil && control != nil { break }
        }
        guard let data else { throw KernelError.missingMember(deb: path, member: "data.tar.*") }
        self.path = path
        self.dataMemberName = data.0
        self.dataTar = data.1
        self.controlMemberName = control?.0
        self.controlTar = control?.1
    }

    /// Walks data.tar in archive order, handing each entry to `body`.
    /// Entries whose data `body` does not read are skipped without being copied.
    public func forEachDataEntry(_ body: (DebEntry) throws -> Void) throws {
        try walkDataEntries { entry in
            try body(entry)
            return .next
        }
    }

    /// Like `forEachDataEntry`, but `body` can end the walk early: decompressing data.tar
    /// is the slow part, so a search should stop once it has what it needs.
    public func walkDataEntries(_ body: (DebEntry) throws -> DebWalkAction) throws {
        try Self.walkTar(dataTar, context: "\(path): \(dataMemberName)", body)
    }

    /// Fields of the package's `control` file (e.g. "Package", "Version"); empty if there is none.
    public func controlFields() throws -> [String: String] {
        guard let controlTar, let member = controlMemberName else { return [:] }
        var text: String?
        try Self.walkTar(controlTar, context: "\(path): \(member)") { entry in
            guard entry.path == "control" && entry.type == .file else { return .next }
            text = String(decoding: try entry.readData(), as: UTF8.self)
            return .stop
        }
        return text.map(Self.parseControl) ?? [:]
    }

    /// Parses deb822 "Key: value" lines; continuation lines (leading space) are appended.
    static func parseControl(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        var last: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.first == " " || line.first == "\t" {
                if let key = last { fields[key, default: ""] += "\n" + line.dropFirst() }
            } else if let colon = line.firstIndex(of: ":") {
                let key = String(line[..<colon])
                fields[key] = line[line.index(after: colon)...].debTrimmed(" \t")
                last = key
            }
        }
        return fields
    }

    /// Opens an in-memory (compressed) tarball as a nested archive and walks it.
    static func walkTar(_ tar: [UInt8], context: String, _ body: (DebEntry) throws -> DebWalkAction) throws {
        try tar.withUnsafeBytes { buffer in
            let reader = try KernelArchiveReader(context: context)
            archive_read_support_filter_all(reader.handle)
            archive_read_support_format_all(reader.handle)
            try reader.open(memory: buffer)
            while let entry = try reader.nextHeader() {
                var path = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
                while path.hasPrefix("./") { path.removeFirst(2) }
                while path.hasPrefix("/") { path.removeFirst() }
                if path.hasSuffix("/") { path.removeLast() }
                if path.isEmpty || path == "." { continue } // the package root itself

                let type: DebEntryType
                var target: String?
                if let hard = archive_entry_hardlink(entry) {
                    type = .hardlink
                    target = String(cString: hard)
                } else {
                    switch archive_entry_filetype(entry) & 0o170000 {
                    case 0o100000: type = .file
                    case 0o040000: type = .directory
                    case 0o120000:
                        type = .symlink
                        target = archive_entry_symlink(entry).map { String(cString: $0) }
                    default: type = .other
                    }
                }
                let size = archive_entry_size_is_set(entry) != 0 ? Int(archive_entry_size(entry)) : 0
                let source = DebEntrySource(reader: reader, path: path, size: size)
                defer { source.usable = false }
                if try body(DebEntry(path: path, type: type, size: size, linkTarget: target, source: source)) == .stop {
                    return
                }
            }
        }
    }
}

extension Substring {
    fileprivate func debTrimmed(_ set: String) -> String {
        var s = self[...]
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
