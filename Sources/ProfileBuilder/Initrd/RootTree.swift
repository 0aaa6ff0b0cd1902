// A root filesystem's entries: a map from normalised path to entry that always stays a
// proper tree (every entry's ancestors exist and are directories), so that whatever is
// packed unpacks without surprises. Metadata lives in memory; the contents of files read
// from an archive live in the tree's spool file on disk.

public struct RootTree: Sendable {
    /// Keyed by the path's bytes rather than by String: String equality is Unicode canonical
    /// equivalence, which would merge two distinct file names (NFC vs NFD spellings) into one
    /// entry, and a Linux name need not be UTF-8 at all.
    struct Key: Hashable, Sendable {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    private var entries: [Key: RootEntry] = [:]
    private var fileBytes: UInt64 = 0
    /// Where `spooled` entries keep their contents (set by the tar reader).
    var spool: FileSpool?

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
        guard case .path(let p) = RootPath.normalise(e.pathBytes, allowAbsolute: true) else {
            preconditionFailure("RootTree.add: invalid path \"\(e.path)\" (empty, root or escaping)")
        }
        precondition(e.spooled == nil, "RootTree.add: an entry with spooled contents belongs to its own tree")
        var e = e
        e.pathBytes = p
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
            if let old = entries.removeValue(forKey: key) { fileBytes -= old.size }
            removeDescendants(of: key)
        case .absolute, .escapes:
            return  // names nothing inside the tree
        }
    }

    /// A file's contents, wherever they are kept (for tests and small files).
    public func contents(of e: RootEntry) throws -> [UInt8] {
        var out: [UInt8] = []
        try forEachChunk(of: e) { out.append(contentsOf: $0) }
        return out
    }

    public func contents(at path: String) throws -> [UInt8]? {
        try entry(at: path).map { try contents(of: $0) }
    }

    // MARK: - Internal, for the reader and the writers

    /// Hands a file's contents to `body` in chunks of at most 1 MiB, never all at once.
    func forEachChunk(of e: RootEntry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard e.kind == .file else { return }
        guard let range = e.spooled else {
            try e.data.withUnsafeBytes { if $0.count > 0 { try body($0) } }
            return
        }
        guard let spool else { preconditionFailure("RootTree: \(e.path) has spooled contents but the tree has no spool") }
        var buffer = [UInt8](repeating: 0, count: Swift.min(1 << 20, Int(range.length)))
        try spool.read(range, buffer: &buffer, body)
    }

    /// `e.pathBytes` must already be normalised and non-root. Returns how many parent
    /// directories it had to make. Parents are looked at from the deepest up, stopping at the
    /// first directory: everything above an entry is a directory already (the tree's invariant),
    /// so a member costs what it adds, not its depth times its length.
    @discardableResult
    mutating func insertNormalised(_ e: RootEntry) -> Int {
        var made = 0
        for parent in RootPath.parentsDeepestFirst(of: e.pathBytes) {
            let key = Key(parent)
            if let existing = entries[key], existing.kind == .directory { break }
            let replaced = entries[key]
            if let replaced { fileBytes -= replaced.size }
            var directory = RootEntry(path: "", kind: .directory, mode: 0o755)
            directory.pathBytes = parent
            entries[key] = directory
            made += 1
            if replaced != nil { break }  // a file was there: its parents are directories
        }
        let key = Key(e.pathBytes)
        if let old = entries[key] {
            fileBytes -= old.size
            if old.kind == .directory && e.kind != .directory { removeDescendants(of: key) }
        }
        entries[key] = e
        fileBytes += e.size
        return made
    }

    func entry(atNormalised path: [UInt8]) -> RootEntry? { entries[Key(path)] }

    /// The outermost ancestor of a normalised path that exists but is not a
    /// directory, if any; lets the tar reader refuse members below symlinks.
    func nonDirectoryAncestor(of path: [UInt8]) -> [UInt8]? {
        // From the deepest up: the first that exists decides (everything above it is a directory).
        for parent in RootPath.parentsDeepestFirst(of: path) {
            guard let e = entries[Key(parent)] else { continue }
            return e.kind == .directory ? nil : parent
        }
        return nil
    }

    /// All entries sorted bytewise by path, so parents precede their children.
    func sortedEntries() -> [RootEntry] {
        entries.sorted { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }.map(\.value)
    }

    private mutating func removeDescendants(of key: Key) {
        let prefix = key.bytes + [RootPath.slash]
        let doomed = entries.keys.filter { $0.bytes.starts(with: prefix) }
        for k in doomed {
            if let old = entries.removeValue(forKey: k) { fileBytes -= old.size }
        }
    }
}
