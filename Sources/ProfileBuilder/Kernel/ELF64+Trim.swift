// A vmlinux without the zeros it carries. The kernel's last loadable segment ends in .bss and
// a scratch area, all zeros, yet stored in the file (about 23 MB of Debian's 63 MB vmlinux).
// QEMU keeps the kernel file mapped for the VM's whole life and counts it in its resident
// memory; a segment whose file size stops at its last non-zero byte is zero-filled by the
// loader instead (ELF's FileSiz < MemSiz rule), and the kernel clears its .bss itself anyway.

extension ELF64 {
    static let PT_LOAD: UInt32 = 1

    /// `bytes` with every loadable segment's zero tail dropped from the file, the file cut
    /// after the last byte a segment still needs, and the section headers (which would point
    /// past the cut, and which no loader reads) removed. Returns `bytes` unchanged when a
    /// segment's data lies after the section header table or the layout is unusual.
    static func trimmingZeroTails(_ bytes: [UInt8]) throws -> [UInt8] {
        let elf = try ELF64(bytes)
        guard elf.type == ET_EXEC, elf.phnum > 0, elf.phentsize >= 56 else { return bytes }
        var out = bytes
        var end = elf.phoff + elf.phnum * elf.phentsize
        for index in 0..<elf.phnum {
            let base = elf.phoff + index * elf.phentsize
            let type = u32(bytes, base)
            let offset = Int(clamping: u64(bytes, base + 8))
            let fileSize = Int(clamping: u64(bytes, base + 32))
            guard fits(bytes, offset, fileSize) else { throw Failure.truncated("segment \(index)") }
            var kept = fileSize
            if type == PT_LOAD {
                while kept > 0 && bytes[offset + kept - 1] == 0 { kept -= 1 }
                kept = (kept + 7) & ~7  // keep the size aligned as the linker would
                kept = min(kept, fileSize)
                put64(&out, base + 32, UInt64(kept))
            }
            end = max(end, offset + kept)
        }
        guard end <= bytes.count else { return bytes }
        // No section headers: e_shoff, e_shnum and e_shstrndx become 0.
        put64(&out, 40, 0)
        out[60] = 0; out[61] = 0; out[62] = 0; out[63] = 0
        return Array(out[0..<end])
    }

    private static func put64(_ b: inout [UInt8], _ o: Int, _ value: UInt64) {
        for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}
