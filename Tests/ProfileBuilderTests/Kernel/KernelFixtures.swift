// Builders for test inputs made from scratch: tiny ELF files (modules and a vmlinux with a
// PVH note), compressed streams, tarballs and .deb packages, written with libarchive.
import CArchive
import Foundation

enum TestELF {
    private static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    private static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    private static func le64(_ v: Int) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    private static func header(type: Int, phoff: Int, phnum: Int, shoff: Int, shnum: Int, shstrndx: Int) -> [UInt8] {
        var h: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        h += le16(type) + le16(62) + le32(1)          // e_type, e_machine (x86-64), e_version
        h += le64(0x100_0000)                         // e_entry
        h += le64(phoff) + le64(shoff) + le32(0)      // e_phoff, e_shoff, e_flags
        h += le16(64) + le16(56) + le16(phnum)        // e_ehsize, e_phentsize, e_phnum
        h += le16(64) + le16(shnum) + le16(shstrndx)  // e_shentsize, e_shnum, e_shstrndx
        return h
    }

    private static func sectionHeader(name: Int, type: Int, offset: Int, size: Int) -> [UInt8] {
        le32(name) + le32(type) + le64(0) + le64(0) + le64(offset) + le64(size) + le32(0) + le32(0) + le64(1) + le64(0)
    }

    /// An ELF64 relocatable object (like a .ko) with a .text, a .modinfo holding
    /// `modinfo` as NUL-terminated strings, and a section-name string table.
    static func module(modinfo: [String], padTo: Int = 0) -> [UInt8] {
        var info: [UInt8] = []
        for s in modinfo { info += Array(s.utf8) + [0] }
        let text: [UInt8] = [0xC3, 0x90, 0x90, 0x90] // ret; nops
        // Section names: deliberately put ".modinfo" after a decoy whose name ends in it.
        let names: [UInt8] = Array("\0.text\0.rela.modinfo\0.modinfo\0.shstrtab\0".utf8)
        func nameOffset(_ n: String) -> Int {
            let needle = Array(("\0" + n + "\0").utf8)
            for i in 0...(names.count - needle.count) where Array(names[i..<(i + needle.count)]) == needle { return i + 1 }
            fatalError("no section name \(n)")
        }
        var body = [UInt8](repeating: 0, count: 64)
        let textOff = body.count; body += text
        let infoOff = body.count; body += info
        let namesOff = body.count; body += names
        body += [UInt8](repeating: 0, count: max(0, padTo - body.count))
        while body.count % 8 != 0 { body.append(0) }
        let shoff = body.count
        body += sectionHeader(name: 0, type: 0, offset: 0, size: 0)
        body += sectionHeader(name: nameOffset(".text"), type: 1, offset: textOff, size: text.count)
        body += sectionHeader(name: nameOffset(".modinfo"), type: 1, offset: infoOff, size: info.count)
        body += sectionHeader(name: nameOffset(".shstrtab"), type: 3, offset: namesOff, size: names.count)
        body.replaceSubrange(0..<64, with: header(type: 1, phoff: 0, phnum: 0, shoff: shoff, shnum: 4, shstrndx: 3))
        return body
    }

    /// A small ELF64 executable with one PT_NOTE segment holding a Xen PHYS32_ENTRY note,
    /// padded with `payload` bytes so compression tests have something to chew on.
    static func vmlinux(pvhEntry: UInt32?, payloadSize: Int = 100_000) -> [UInt8] {
        var note: [UInt8] = []
        if let pvhEntry {
            // An unrelated note first, then the Xen one: the reader must walk the list.
            note += le32(4) + le32(4) + le32(1) + Array("GNU\0".utf8) + le32(0)
            note += le32(4) + le32(4) + le32(18) + Array("Xen\0".utf8) + le32(Int(pvhEntry))
        }
        var body = [UInt8](repeating: 0, count: 64 + 56)
        let noteOff = body.count; body += note
        // Deterministic, mildly compressible filler.
        var x: UInt32 = 12345
        for _ in 0..<payloadSize { x = x &* 1_103_515_245 &+ 12345; body.append(UInt8((x >> 16) & 0x0F)) }
        while body.count % 8 != 0 { body.append(0) }
        let shoff = body.count
        body += sectionHeader(name: 0, type: 0, offset: 0, size: 0)
        body.replaceSubrange(0..<64, with: header(type: 2, phoff: 64, phnum: 1, shoff: shoff, shnum: 1, shstrndx: 0))
        let ph = le32(4) + le32(4) + le64(noteOff) + le64(0) + le64(0) + le64(note.count) + le64(note.count) + le64(4)
        body.replaceSubrange(64..<120, with: ph)
        return body
    }
}

enum TestArchive {
    enum Compression { case xz, zstd, gzip, none }

    struct Entry {
        var path: String
        var data: [UInt8] = []
        var isDirectory = false
    }

    /// Runs a libarchive writer into an in-memory buffer.
    private static func write(capacity: Int, setup: (OpaquePointer) -> Void,
                              _ body: (OpaquePointer) -> Void) -> [UInt8] {
        let a = archive_write_new()!
        setup(a)
        var buffer = [UInt8](repeating: 0, count: capacity)
        var used = 0
        buffer.withUnsafeMutableBytes { buf in
            precondition(archive_write_open_memory(a, buf.baseAddress, buf.count, &used) == ARCHIVE_OK,
                         String(cString: archive_error_string(a)))
            body(a)
            precondition(archive_write_close(a) == ARCHIVE_OK, String(cString: archive_error_string(a)))
        }
        archive_write_free(a)
        return Array(buffer[0..<used])
    }

    private static func addFilter(_ a: OpaquePointer, _ c: Compression) {
        switch c {
        case .xz: archive_write_add_filter_xz(a)
        case .zstd: archive_write_add_filter_zstd(a)
        case .gzip: archive_write_add_filter_gzip(a)
        case .none: break
        }
    }

    private static func put(_ a: OpaquePointer, _ e: Entry) {
        let entry = archive_entry_new()!
        archive_entry_set_pathname(entry, e.path)
        archive_entry_set_filetype(entry, e.isDirectory ? 0o040000 : 0o100000)
        archive_entry_set_perm(entry, e.isDirectory ? 0o755 : 0o644)
        archive_entry_set_size(entry, Int64(e.data.count))
        archive_entry_set_mtime(entry, 1_700_000_000, 0)
        precondition(archive_write_header(a, entry) == ARCHIVE_OK, String(cString: archive_error_string(a)))
        if !e.data.isEmpty {
            let n = e.data.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
            precondition(n == e.data.count, "short write")
        }
        archive_entry_free(entry)
    }

    /// A single compressed stream of `data` (what a bzImage payload or a .ko.xz is).
    static func compress(_ data: [UInt8], _ c: Compression) -> [UInt8] {
        write(capacity: data.count * 2 + 1 << 16, setup: { a in
            archive_write_set_format_raw(a)
            addFilter(a, c)
            archive_write_set_bytes_in_last_block(a, 1)
        }) { a in put(a, Entry(path: "data", data: data)) }
    }

    static func tar(_ entries: [Entry], _ c: Compression) -> [UInt8] {
        let total = entries.reduce(0) { $0 + $1.data.count + 1024 }
        return write(capacity: total * 2 + 1 << 20, setup: { a in
            archive_write_set_format_pax_restricted(a)
            addFilter(a, c)
        }) { a in for e in entries { put(a, e) } }
    }

    /// A .deb: an ar archive of debian-binary, control.tar.xz and data.tar.xz.
    static func deb(control: String, data: [Entry]) -> [UInt8] {
        let controlTar = tar([Entry(path: "./", isDirectory: true),
                              Entry(path: "./control", data: Array(control.utf8))], .xz)
        let dataTar = tar(data, .xz)
        return write(capacity: controlTar.count + dataTar.count + 1 << 16, setup: { a in
            archive_write_set_format_ar_svr4(a)
            archive_write_set_bytes_in_last_block(a, 1)
        }) { a in
            put(a, Entry(path: "debian-binary", data: Array("2.0\n".utf8)))
            put(a, Entry(path: "control.tar.xz", data: controlTar))
            put(a, Entry(path: "data.tar.xz", data: dataTar))
        }
    }
}
