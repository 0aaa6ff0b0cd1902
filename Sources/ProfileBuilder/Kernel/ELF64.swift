// Minimal, bounds-checked ELF64 little-endian reader: just enough to find a kernel
// module's .modinfo section and to validate/inspect a vmlinux (completeness, PVH note).
// Every offset comes from untrusted input, so every read is checked.

struct ELF64 {
    struct Section {
        var nameOffset: UInt32
        var type: UInt32
        var offset: Int
        var size: Int
        var link: UInt32
    }

    struct ProgramHeader {
        var type: UInt32
        var offset: Int
        var fileSize: Int
    }

    enum Failure: Error, Equatable {
        case notELF, not64BitLittleEndian, truncated(String)
    }

    static let SHT_NOBITS: UInt32 = 8
    static let PT_NOTE: UInt32 = 4
    static let ET_REL: UInt16 = 1
    static let ET_EXEC: UInt16 = 2

    let bytes: [UInt8]
    let type: UInt16
    let machine: UInt16
    let phoff: Int, phentsize: Int, phnum: Int
    let shoff: Int, shentsize: Int, shnum: Int, shstrndx: Int

    /// True when `bytes` starts with the ELF magic.
    static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x7F && bytes[1] == 0x45 && bytes[2] == 0x4C && bytes[3] == 0x46
    }

    init(_ bytes: [UInt8]) throws {
        guard Self.hasMagic(bytes) else { throw Failure.notELF }
        guard bytes.count >= 64 else { throw Failure.truncated("ELF header") }
        // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian: the only layout x86-64 kernels use.
        guard bytes[4] == 2, bytes[5] == 1 else { throw Failure.not64BitLittleEndian }
        self.bytes = bytes
        type = Self.u16(bytes, 16)
        machine = Self.u16(bytes, 18)
        phoff = Int(clamping: Self.u64(bytes, 32))
        shoff = Int(clamping: Self.u64(bytes, 40))
        phentsize = Int(Self.u16(bytes, 54))
        phnum = Int(Self.u16(bytes, 56))
        shentsize = Int(Self.u16(bytes, 58))
        var shnum = Int(Self.u16(bytes, 60))
        var shstrndx = Int(Self.u16(bytes, 62))
        // More than 0xff00 sections: the real counts live in section header 0.
        if shoff != 0 && shentsize >= 64 && Self.fits(bytes, shoff, 64) {
            if shnum == 0 { shnum = Int(clamping: Self.u64(bytes, shoff + 32)) }
            if shstrndx == 0xFFFF { shstrndx = Int(Self.u32(bytes, shoff + 40)) }
        }
        // Clamp so that shnum * shentsize can never overflow; a bogus count still fails `fits`.
        self.shnum = min(shnum, Int(Int32.max))
        self.shstrndx = shstrndx
    }

    /// True when the file is long enough to hold both header tables it declares:
    /// a truncated decompression fails this even if it starts with a valid header.
    var isComplete: Bool {
        if phnum > 0 && (phentsize < 56 || !Self.fits(bytes, phoff, phentsize * phnum)) { return false }
        if shnum > 0 && (shentsize < 64 || !Self.fits(bytes, shoff, shentsize * shnum)) { return false }
        if shnum == 0 && phnum == 0 { return false }
        return true
    }

    func sections() throws -> [Section] {
        try table("section header table", at: shoff, count: shnum, entrySize: shentsize, minimumEntry: 64) { base in
            Section(nameOffset: Self.u32(bytes, base), type: Self.u32(bytes, base + 4),
                    offset: Int(clamping: Self.u64(bytes, base + 24)), size: Int(clamping: Self.u64(bytes, base + 32)),
                    link: Self.u32(bytes, base + 40))
        }
    }

    func programHeaders() throws -> [ProgramHeader] {
        try table("program header table", at: phoff, count: phnum, entrySize: phentsize, minimumEntry: 56) { base in
            ProgramHeader(type: Self.u32(bytes, base), offset: Int(clamping: Self.u64(bytes, base + 8)),
                          fileSize: Int(clamping: Self.u64(bytes, base + 32)))
        }
    }

    /// The `count` entries of a header table, each read by `entry` from its offset.
    private func table<T>(_ name: String, at offset: Int, count: Int, entrySize: Int, minimumEntry: Int,
                          _ entry: (Int) -> T) throws -> [T] {
        guard count > 0 else { return [] }
        guard entrySize >= minimumEntry, Self.fits(bytes, offset, entrySize * count) else { throw Failure.truncated(name) }
        return (0..<count).map { entry(offset + $0 * entrySize) }
    }

    /// The section with the given name, looked up through the section-name string table.
    func section(named name: String) throws -> Section? {
        let all = try sections()
        guard shstrndx < all.count else { throw Failure.truncated("section name table index") }
        let strtab = all[shstrndx]
        guard Self.fits(bytes, strtab.offset, strtab.size) else { throw Failure.truncated("section name table") }
        let wanted = Array(name.utf8)
        for s in all {
            let start = strtab.offset + Int(s.nameOffset)
            let end = start + wanted.count
            // Match the name bytes followed by the NUL terminator, inside the string table.
            guard Int(s.nameOffset) < strtab.size, end < strtab.offset + strtab.size else { continue }
            if bytes[end] == 0 && bytes[start..<end].elementsEqual(wanted) { return s }
        }
        return nil
    }

    /// Contents of a section (empty for SHT_NOBITS), bounds-checked.
    func contents(of s: Section) throws -> ArraySlice<UInt8> {
        if s.type == Self.SHT_NOBITS { return [] }
        guard Self.fits(bytes, s.offset, s.size) else { throw Failure.truncated("section contents") }
        return bytes[s.offset..<(s.offset + s.size)]
    }

    /// Walks ELF notes (4-byte aligned name and descriptor) in a note segment/section.
    static func forEachNote(in data: ArraySlice<UInt8>, _ body: (_ name: [UInt8], _ type: UInt32, _ desc: ArraySlice<UInt8>) -> Void) {
        var p = data.startIndex
        func align4(_ n: Int) -> Int { (n + 3) & ~3 }
        while p + 12 <= data.endIndex {
            let namesz = Int(u32(data, p)), descsz = Int(u32(data, p + 4)), type = u32(data, p + 8)
            let nameStart = p + 12
            let descStart = nameStart + align4(namesz)
            let next = descStart + align4(descsz)
            guard namesz <= data.count, descsz <= data.count, descStart + descsz <= data.endIndex else { return }
            var name = Array(data[nameStart..<(nameStart + namesz)])
            if name.last == 0 { name.removeLast() }
            body(name, type, data[descStart..<(descStart + descsz)])
            p = next
        }
    }

    // Little-endian readers; callers guarantee bounds.
    static func fits<C: Collection>(_ b: C, _ offset: Int, _ length: Int) -> Bool where C.Index == Int {
        offset >= b.startIndex && length >= 0 && offset <= b.endIndex && length <= b.endIndex - offset
    }
    static func u16<C: Collection>(_ b: C, _ o: Int) -> UInt16 where C.Element == UInt8, C.Index == Int {
        UInt16(b[o]) | UInt16(b[o + 1]) << 8
    }
    static func u32<C: Collection>(_ b: C, _ o: Int) -> UInt32 where C.Element == UInt8, C.Index == Int {
        UInt32(u16(b, o)) | UInt32(u16(b, o + 2)) << 16
    }
    static func u64<C: Collection>(_ b: C, _ o: Int) -> UInt64 where C.Element == UInt8, C.Index == Int {
        UInt64(u32(b, o)) | UInt64(u32(b, o + 4)) << 32
    }
}
