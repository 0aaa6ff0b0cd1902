// A root tree as an uncompressed EROFS image: what a VM mounts read-only as the lower layer of
// its root. Written by pen itself from the tree in memory — no root, nothing extracted on the
// host, ownership, modes, devices and setuid bits exactly as in the tree — and deterministic:
// the same tree gives the same bytes (sorted entries, fixed times, a fixed UUID).
//
// Layout (4 KiB blocks): block 0 holds the superblock at byte 1024; the inodes follow from
// block 1 (64-byte extended inodes, a symlink's target inline after its inode); then the data:
// each directory's blocks of sorted entries, then each file's blocks. The format is the Linux
// kernel's (Documentation/filesystems/erofs.rst, include/uapi erofs_fs.h): only the plain and
// inline layouts are used, so no compression code is involved on either side.
import Foundation
import PenCore
import PenIO

public struct RootImageResult: Sendable {
    public var sha256: String
    public var bytes: UInt64
    public var entryCount: Int
    /// The sum of the regular files' sizes.
    public var unpackedBytes: UInt64
}

public enum ErofsWriter {
    static let blockSize = 4096
    static let magic: UInt32 = 0xE0F5_E1E2
    static let metaBlock = 1
    /// Every inode's time, and the image's (deterministic builds).
    static let fixedTime: UInt64 = 0
    /// A fixed UUID: the image's identity is its SHA-256, not a random number.
    static let uuid: [UInt8] = Array("pen-root-image-1".utf8)

    /// Writes `tree` as an EROFS image at `path` (atomically).
    public static func write(_ tree: RootTree, to path: String) throws -> RootImageResult {
        let layout = try ErofsLayout(tree)
        var file = try AtomicFile.create(destination: path)
        do {
            try layout.write(to: file.fd, path: path)
            try file.sync()
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
        return RootImageResult(sha256: try SHA256File.hex(path: path), bytes: UInt64(layout.totalBlocks * blockSize),
                               entryCount: tree.count, unpackedBytes: tree.unpackedBytes)
    }
}

/// Where everything goes in the image, decided before a byte is written.
struct ErofsLayout {
    struct Node {
        var entry: RootEntry
        var children: [Int] = []
        var nid = 0
        var dataBlock = 0
        var dataBlocks = 0
        /// A directory's encoded blocks; a file's bytes come from the entry.
        var directoryBytes: [UInt8] = []
        var inlineTail: [UInt8] = []
    }

    let tree: RootTree
    var nodes: [Node]
    var metaBytes = 0
    var totalBlocks = 0
    static let inodeSize = 64
    /// EROFS_NAME_LEN, also Linux's NAME_MAX: the kernel refuses a directory holding a longer name.
    static let maxNameBytes = 255

    init(_ tree: RootTree) throws {
        self.tree = tree
        // The root first (its nid must fit the superblock's 16 bits), then every entry in path order.
        nodes = [Node(entry: RootEntry(path: "", kind: .directory, mode: 0o755))]
        var index: [[UInt8]: Int] = [[]: 0]
        for entry in tree.sortedEntries() {
            let bytes = entry.pathBytes
            let parent = bytes.lastIndex(of: UInt8(ascii: "/")).map { Array(bytes[..<$0]) } ?? []
            guard let parentIndex = index[parent] else {
                throw PenError("root image: \(RootPath.display(bytes)) has no parent directory")
            }
            let nameBytes = RootPath.name(of: bytes).count
            guard nameBytes <= Self.maxNameBytes else {
                throw PenError("root image: the name of /\(RootPath.display(bytes)) is \(nameBytes) bytes, over the \(Self.maxNameBytes) a Linux file name may have",
                               fix: "shorten or remove that file in the profile's build script")
            }
            index[bytes] = nodes.count
            nodes[parentIndex].children.append(nodes.count)
            nodes.append(Node(entry: entry))
        }
        assignInodes()
        try encodeDirectories()
        assignData()
    }

    /// Inodes are packed from the start of the metadata area, each 32-byte aligned; a symlink's
    /// target follows its inode when both fit in one block (the kernel reads inline data from there).
    private mutating func assignInodes() {
        var offset = 0
        for i in nodes.indices {
            let entry = nodes[i].entry
            let tail = entry.kind == .symlink ? entry.linkTargetBytes : []
            let size = Self.inodeSize + tail.count
            if !tail.isEmpty, size <= ErofsWriter.blockSize, offset % ErofsWriter.blockSize + size > ErofsWriter.blockSize {
                offset = (offset / ErofsWriter.blockSize + 1) * ErofsWriter.blockSize
            }
            nodes[i].nid = offset / 32
            if size <= ErofsWriter.blockSize { nodes[i].inlineTail = tail }
            offset += (nodes[i].inlineTail.isEmpty ? Self.inodeSize : size + 31) / 32 * 32
        }
        metaBytes = offset
    }

    /// Each directory: "." and ".." with its entries, sorted by name, packed into blocks of
    /// dirents (nid, name offset, type) followed by their names.
    private mutating func encodeDirectories() throws {
        var parentOf = [Int](repeating: 0, count: nodes.count)
        for i in nodes.indices { for c in nodes[i].children { parentOf[c] = i } }
        for i in nodes.indices where nodes[i].entry.kind == .directory {
            var entries: [(name: [UInt8], nid: Int, type: UInt8)] = [(Array(".".utf8), nodes[i].nid, 2),
                                                                     (Array("..".utf8), nodes[parentOf[i]].nid, 2)]
            for c in nodes[i].children {
                let name = Array(RootPath.name(of: nodes[c].entry.pathBytes))
                entries.append((name, nodes[c].nid, Self.fileType(nodes[c].entry.kind)))
            }
            entries.sort { $0.name.lexicographicallyPrecedes($1.name) }
            nodes[i].directoryBytes = try Self.directoryBlocks(entries)
        }
    }

    static func directoryBlocks(_ entries: [(name: [UInt8], nid: Int, type: UInt8)]) throws -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        while start < entries.count {
            var end = start, used = 0
            while end < entries.count, used + 12 + entries[end].name.count <= ErofsWriter.blockSize {
                used += 12 + entries[end].name.count
                end += 1
            }
            guard end > start else { throw PenError("root image: a file name is too long") }
            var block: [UInt8] = []
            var nameOffset = 12 * (end - start)
            for e in entries[start..<end] {
                block += le64(UInt64(e.nid)) + le16(UInt16(nameOffset)) + [e.type, 0]
                nameOffset += e.name.count
            }
            for e in entries[start..<end] { block += e.name }
            // Full blocks are padded; the last is cut at its end (the directory's size says where).
            if end < entries.count { block += [UInt8](repeating: 0, count: ErofsWriter.blockSize - block.count) }
            out += block
            start = end
        }
        return out
    }

    /// Data blocks after the metadata: directories, then files, each from a block boundary.
    private mutating func assignData() {
        var block = ErofsWriter.metaBlock + (metaBytes + ErofsWriter.blockSize - 1) / ErofsWriter.blockSize
        for kindPass in [RootEntryKind.directory, .file, .symlink] {
            for i in nodes.indices where nodes[i].entry.kind == kindPass {
                let size = dataSize(nodes[i])
                guard size > 0 && nodes[i].inlineTail.isEmpty else { continue }
                nodes[i].dataBlock = block
                nodes[i].dataBlocks = (size + ErofsWriter.blockSize - 1) / ErofsWriter.blockSize
                block += nodes[i].dataBlocks
            }
        }
        totalBlocks = block
    }

    private func dataSize(_ node: Node) -> Int {
        switch node.entry.kind {
        case .directory: return node.directoryBytes.count
        case .file: return Int(node.entry.size)
        case .symlink: return node.entry.linkTargetBytes.count
        default: return 0
        }
    }

    // MARK: writing

    func write(to fd: Int32, path: String) throws {
        var image = ImageOutput(fd: fd, path: path)
        var superblock = [UInt8](repeating: 0, count: 1024)
        superblock += le32(ErofsWriter.magic) + le32(0) + le32(0) + [12, 0] + le16(UInt16(nodes[0].nid))
        superblock += le64(UInt64(nodes.count)) + le64(ErofsWriter.fixedTime) + le32(0)
        superblock += le32(UInt32(totalBlocks)) + le32(UInt32(ErofsWriter.metaBlock)) + le32(0)
        superblock += ErofsWriter.uuid + Array("pen-root".utf8) + [UInt8](repeating: 0, count: 8) + le32(0)
        superblock += [UInt8](repeating: 0, count: 128 - (superblock.count - 1024))
        try image.write(superblock)
        try image.pad(to: ErofsWriter.metaBlock * ErofsWriter.blockSize)
        let metaStart = ErofsWriter.metaBlock * ErofsWriter.blockSize
        for (i, node) in nodes.enumerated() {
            try image.pad(to: metaStart + node.nid * 32)
            try image.write(inode(node, ino: i + 1))
            try image.write(node.inlineTail)
        }
        for node in nodes.sorted(by: { $0.dataBlock < $1.dataBlock }) where node.dataBlocks > 0 {
            try image.pad(to: node.dataBlock * ErofsWriter.blockSize)
            switch node.entry.kind {
            case .directory: try image.write(node.directoryBytes)
            case .file: try tree.forEachChunk(of: node.entry) { try image.write($0) }
            default: try image.write(node.entry.linkTargetBytes)
            }
        }
        try image.pad(to: totalBlocks * ErofsWriter.blockSize)
    }

    private func inode(_ node: Node, ino: Int) -> [UInt8] {
        let e = node.entry
        let inline = !node.inlineTail.isEmpty
        let layout: UInt16 = inline ? 2 : 0  // EROFS_INODE_FLAT_INLINE : EROFS_INODE_FLAT_PLAIN
        var size = UInt64(dataSize(node))
        var u: UInt32 = UInt32(node.dataBlock)
        switch e.kind {
        case .characterDevice, .blockDevice:
            // The kernel's new_encode_dev.
            u = (e.deviceMinor & 0xff) | (e.deviceMajor << 8) | ((e.deviceMinor & ~0xff) << 12)
            size = 0
        case .fifo, .socket: u = 0
        default: if inline { u = 0 }
        }
        let nlink = e.kind == .directory ? 2 + node.children.filter { nodes[$0].entry.kind == .directory }.count : 1
        var out = le16(layout << 1 | 1) + le16(0) + le16(UInt16(Self.typeBits(e.kind) | (e.mode & 0o7777))) + le16(0)
        out += le64(size) + le32(u) + le32(UInt32(ino)) + le32(e.uid) + le32(e.gid)
        out += le64(ErofsWriter.fixedTime) + le32(0) + le32(UInt32(nlink)) + [UInt8](repeating: 0, count: 16)
        return out
    }

    static func typeBits(_ kind: RootEntryKind) -> UInt32 {
        switch kind {
        case .file: return 0o100000
        case .directory: return 0o040000
        case .symlink: return 0o120000
        case .characterDevice: return 0o020000
        case .blockDevice: return 0o060000
        case .fifo: return 0o010000
        case .socket: return 0o140000
        }
    }

    /// EROFS_FT_*: the file type a directory entry records.
    static func fileType(_ kind: RootEntryKind) -> UInt8 {
        switch kind {
        case .file: return 1
        case .directory: return 2
        case .characterDevice: return 3
        case .blockDevice: return 4
        case .fifo: return 5
        case .socket: return 6
        case .symlink: return 7
        }
    }
}

/// Sequential writes with zero padding up to given offsets.
private struct ImageOutput {
    let fd: Int32
    let path: String
    var offset = 0

    mutating func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        guard writeAll(fd, bytes) else { throw PenError.system("cannot write \(path)") }
        offset += bytes.count
    }

    mutating func pad(to target: Int) throws {
        precondition(target >= offset, "root image layout overlaps at \(offset) > \(target)")
        var left = target - offset
        let zeros = [UInt8](repeating: 0, count: 1 << 16)
        while left > 0 {
            let n = min(left, zeros.count)
            try write(Array(zeros[0..<n]))
            left -= n
        }
    }
}

private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
private func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xff) } }
