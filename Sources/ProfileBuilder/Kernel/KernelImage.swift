// Turns Debian's /boot/vmlinuz-* (an x86 bzImage) into the uncompressed ELF vmlinux.
// QEMU's -kernel boots an ELF vmlinux directly through its Xen PVH entry note, which
// skips the bzImage real-mode setup and self-decompression: a faster, simpler boot.
import CArchive
import PenCore

public enum KernelImage {
    /// Compressed-stream signatures we look for, most likely first (Debian uses xz).
    static let magics: [(name: String, bytes: [UInt8])] = [
        ("xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]),
        ("zstd", [0x28, 0xB5, 0x2F, 0xFD]),
        ("gzip", [0x1F, 0x8B, 0x08]),
    ]

    /// Xen ELF note type announcing the 32-bit PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY).
    public static let xenElfNotePhys32Entry: UInt32 = 18

    /// Decompresses the ELF vmlinux embedded in a bzImage. `source` only labels errors.
    /// An input that already is an ELF is returned unchanged.
    public static func vmlinux(fromBzImage image: [UInt8], source: String = "the kernel image") throws -> [UInt8] {
        if ELF64.hasMagic(image) {
            if isCompleteELF64(image) { return image }
            throw KernelError.noPayload(source: source, detail: "it is an incomplete ELF file")
        }
        var tried: [String] = []
        for start in candidateOffsets(image) {
            let (elf, note) = image.withUnsafeBytes { all -> ([UInt8]?, String) in
                var slice = UnsafeRawBufferPointer(rebasing: all[start...])
                // A vmlinux is ~5x its xz payload; reserving avoids regrowing a 60 MB buffer.
                var sizeHint = slice.count * 6
                // Cut off whatever follows the stream when we can tell where it ends.
                if let length = CompressedStreamLength.of(slice) {
                    // The kernel build appends the decompressed size (le32) to the stream.
                    if length + 4 <= slice.count {
                        let appended = Int(ELF64.u32(all, start + length))
                        if appended > length && appended < length * 32 { sizeHint = appended }
                    }
                    slice = UnsafeRawBufferPointer(rebasing: slice[0..<length])
                }
                guard let (bytes, error) = try? RawDecompressor.decompress(
                    slice, sizeHint: sizeHint, context: source) else {
                    return (nil, "offset \(start): not decompressible")
                }
                // The payload is followed by other bzImage bytes, so libarchive may complain at the
                // very end: that is fine as long as what came out is a whole ELF file.
                if isCompleteELF64(bytes) { return (bytes, "") }
                return (nil, "offset \(start): \(error ?? "output is not a complete ELF file")")
            }
            if let elf { return elf }
            tried.append(note)
        }
        let detail = tried.isEmpty
            ? "no xz, zstd or gzip stream found (is it an x86 bzImage?)"
            : "no compressed payload decompressed to a complete ELF vmlinux (\(tried.prefix(3).joined(separator: "; ")))"
        throw KernelError.noPayload(source: source, detail: detail)
    }

    /// True for a 64-bit little-endian ELF whose size covers its program and section header tables.
    public static func isCompleteELF64(_ bytes: [UInt8]) -> Bool {
        guard let elf = try? ELF64(bytes) else { return false }
        return elf.isComplete
    }

    /// The PVH entry point from the Xen "PHYS32_ENTRY" note, or nil if the ELF has none
    /// (without it QEMU cannot boot the vmlinux with -kernel).
    public static func pvhEntryPoint(elf bytes: [UInt8]) -> UInt64? {
        guard let elf = try? ELF64(bytes), let headers = try? elf.programHeaders() else { return nil }
        var entry: UInt64?
        for ph in headers where ph.type == ELF64.PT_NOTE && entry == nil {
            guard ELF64.fits(bytes, ph.offset, ph.fileSize) else { continue }
            ELF64.forEachNote(in: bytes[ph.offset..<(ph.offset + ph.fileSize)]) { name, type, desc in
                guard entry == nil, type == xenElfNotePhys32Entry, name == Array("Xen".utf8) else { return }
                // The descriptor is a 32-bit physical address (some toolchains emit 64 bits).
                if desc.count >= 8 {
                    entry = ELF64.u64(desc, desc.startIndex)
                } else if desc.count >= 4 {
                    entry = UInt64(ELF64.u32(desc, desc.startIndex))
                }
            }
        }
        return entry
    }

    /// Offsets worth trying, best first: the payload the bzImage setup header points at,
    /// then every occurrence of each known compression magic.
    static func candidateOffsets(_ image: [UInt8]) -> [Int] {
        var result: [Int] = []
        if let declared = declaredPayloadOffset(image) { result.append(declared) }
        for (_, magic) in magics {
            var found = 0
            var i = 0
            // Cap per magic: a short magic can occur by chance in compressed data.
            while found < 16, let hit = firstIndex(of: magic, in: image, from: i) {
                if !result.contains(hit) { result.append(hit) }
                found += 1
                i = hit + 1
            }
        }
        return result
    }

    /// The setup header (boot protocol >= 2.08) records where the compressed payload starts.
    static func declaredPayloadOffset(_ image: [UInt8]) -> Int? {
        guard image.count > 0x250,
              image[0x202] == 0x48, image[0x203] == 0x64, image[0x204] == 0x72, image[0x205] == 0x53, // "HdrS"
              ELF64.u16(image, 0x206) >= 0x0208 else { return nil }
        var setupSectors = Int(image[0x1F1])
        if setupSectors == 0 { setupSectors = 4 } // boot protocol: 0 means 4
        let offset = (setupSectors + 1) * 512 + Int(ELF64.u32(image, 0x248))
        guard offset < image.count,
              magics.contains(where: { m in
                  ELF64.fits(image, offset, m.bytes.count) && image[offset..<(offset + m.bytes.count)].elementsEqual(m.bytes)
              }) else { return nil }
        return offset
    }

    static func firstIndex(of needle: [UInt8], in hay: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, hay.count >= needle.count else { return nil }
        let last = hay.count - needle.count
        return hay.withUnsafeBufferPointer { h -> Int? in
            var i = start
            while i <= last {
                if h[i] == first {
                    var j = 1
                    while j < needle.count && h[i + j] == needle[j] { j += 1 }
                    if j == needle.count { return i }
                }
                i += 1
            }
            return nil
        }
    }
}

extension KernelImage {
    /// Decompresses `image` and atomically writes the vmlinux to `path`; returns its size.
    @discardableResult
    public static func writeVmlinux(fromBzImage image: [UInt8], to path: String,
                                    source: String = "the kernel image") throws -> Int {
        let elf = try ELF64.trimmingZeroTails(try vmlinux(fromBzImage: image, source: source))
        try SafeFiles.writeAtomically(elf, to: path)
        return elf.count
    }
}
