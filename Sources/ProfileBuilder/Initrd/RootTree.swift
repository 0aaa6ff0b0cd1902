// The in-memory root filesystem: a map from normalised path to entry that
// always stays a proper tree (every entry's ancestors exist and are
// directories), so that whatever is packed unpacks without surprises.

public struct RootTree: Sendable {
    /// Keyed by the path's UTF-8 bytes rather than by String: String equality is
    /// Unicode canonical equivalence, which would merge two distinct file names
    /// (NFC vs NFD spellings) into one entry.
    struct Key: Hashable, Sendable {
        let bytes: [UInt8]
        init(_ path: String) { bytes = Array(path.utf8) }
    }

    private var entries: [Key: RootEntry] = [:]
    private var fileBytes: UInt64 = 0

    public init() {}

    public var count: Int { entries.count }

    /// Sum of the sizes of regular files.
    public var unpackedBytes: UInt64 { fileBytes }

    public func entry(at path: String) -> RootEntry? {
        guard case .path(let p) = RootPath.normalise(path, allowAbsolute: true) else { return nil }
        return entries[Key(p)]
    }

    /// Inserts `e`, replacing any entry at the same path. The path is normalised
    /// ("./a//b/" -> "a/b", a leading "/" is dropped). Missing parents are created
    /// as root-owned 0755 directories; a parent that exists but is not a directory
    /// is replaced by one. Replacing a directory with a non-directory drops its
    /// contents. Traps on "", "." and paths escaping the root: those are bugs in
    /// the caller, not in input data (`readTar` reports those as errors).
    public mutating func add(_ e: RootEntry) {
        guard case .path(let p) = RootPath.normalise(e.path, allowAbsolute: true) else {
            preconditionFailure("RootTree.add: invalid path \"\(e.path)\" (empty, root or escaping)")
        }
        var e = e
        e.path = p
        insertNormalised(e)
    }

    /// Removes `prefix` and everything under it; a prefix naming the root empties the tree.
    public mutating func remove(prefix: String) {
        switch RootPath.normalise(prefix, allowAbsolute: true) {
        case .root:
            entries.removeAll()
            fileBytes = 0
        case .path(let p):
            let key = Key(p)
            if let old = entries.removeValue(forKey: key) { fileBytes -= Self.size(of: old) }
            removeDescendants(of: key)
        case .absolute, .escapes:
            return  // names nothing inside the tree
        }
    }

    // MARK: - Internal, for the reader and the packer

    /// `e.path` must already be normalised and non-root.
    mutating func insertNormalised(_ e: RootEntry) {
        for parent in RootPath.ancestors(of: e.path) {
            let key = Key(parent)
            if let existing = entries[key], existing.kind == .directory { continue }
            if let existing = entries[key] { fileBytes -= Self.size(of: existing) }
            entries[key] = RootEntry(path: parent, kind: .directory, mode: 0o755)
        }
        let key = Key(e.path)
        if let old = entries[key] {
            fileBytes -= Self.size(of: old)
            if old.kind == .directory && e.kind != .directory { removeDescendants(of: key) }
        }
        entries[key] = e
        fileBytes += Self.size(of: e)
    }

    /// The outermost ancestor of a normalised path that exists but is not a
    /// directory, if any; lets the tar reader refuse members below symlinks.
    func nonDirectoryAncestor(of path: String) -> String? {
        RootPath.ancestors(of: path).first { p in
            if let e = entries[Key(p)], e.kind != .directory { return true }
            return false
        }
    }

    /// All entries sorted bytewise by path, so parents precede their children.
    func sortedEntries() -> [RootEntry] {
        entries.sorted { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }.map(\.value)
    }

    private mutating func removeDescendants(of key: Key) {
        let prefix = key.bytes + [UInt8(ascii: "/")]
        let doomed = entries.keys.filter { $0.bytes.starts(with: prefix) }
        for k in doomed {
            if let old = entries.removeValue(forKey: k) { fileBytes -= Self.size(of: old) }
        }
    }

    private static func size(of e: RootEntry) -> UInt64 {
        e.kind == .file ? UInt64(e.data.count) : 0
    }
}
