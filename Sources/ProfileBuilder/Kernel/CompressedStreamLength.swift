// Finds where an xz or zstd stream ends inside a larger buffer. A bzImage appends bytes
// after its compressed payload (at least the 4-byte decompressed size), and libarchive's
// xz/zstd readers then fail on what they take for a next concatenated stream, dropping
// the last block of output with the error. Feeding them exactly one stream avoids that.

enum CompressedStreamLength {
    static let xzMagic: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]
    static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// Length of the single xz or zstd stream at the start of `data`, or nil if unknown
    /// (other formats, or a stream that is truncated/corrupt).
    static func of(_ data: UnsafeRawBufferPointer) -> Int? {
        if data.starts(with: xzMagic) { return xz(data) }
        if data.starts(with: zstdMagic) { return zstd(data) }
        return nil
    }

    /// xz: 12-byte header, blocks, index, 12-byte footer; every part is 4-byte aligned.
    /// The footer is CRC32(backward size + flags), backward size, the header's flags, "YZ".
    /// Scanning aligned positions for a footer whose flags and CRC match finds the end.
    static func xz(_ d: UnsafeRawBufferPointer) -> Int? {
        guard d.count >= 32 else { return nil }
        let flags0 = d[6], flags1 = d[7]
        var end = 32 // smallest stream: 12-byte header + 8-byte empty index + 12-byte footer
        while end <= d.count {
            let f = end - 12
            if d[end - 2] == 0x59, d[end - 1] == 0x5A, d[f + 8] == flags0, d[f + 9] == flags1,
               crc32(UnsafeRawBufferPointer(rebasing: d[(f + 4)..<(f + 10)])) == le32(d, f) {
                // The index it points back to must start with the index indicator (0x00).
                let backward = (Int(le32(d, f + 4)) + 1) * 4
                if f - backward >= 12 && d[f - backward] == 0x00 { return end }
            }
            end += 4
        }
        return nil
    }

    /// zstd: frame header, then blocks (3-byte headers carrying size and a last-block
    /// bit), then an optional 4-byte checksum.
    static func zstd(_ d: UnsafeRawBufferPointer) -> Int? {
        guard d.count >= 6 else { return nil }
        let fhd = d[4]
        let singleSegment = (fhd >> 5) & 1 == 1
        let hasChecksum = (fhd >> 2) & 1 == 1
        let dictionaryIDSize = [0, 1, 2, 4][Int(fhd & 3)]
        let contentSizeSize = [singleSegment ? 1 : 0, 2, 4, 8][Int(fhd >> 6)]
        var p = 5 + (singleSegment ? 0 : 1) + dictionaryIDSize + contentSizeSize
        while true {
            guard p + 3 <= d.count else { return nil }
            let header = Int(d[p]) | Int(d[p + 1]) << 8 | Int(d[p + 2]) << 16
            let last = header & 1 == 1
            let size: Int
            switch (header >> 1) & 3 {
            case 0, 2: size = header >> 3      // raw or compressed: that many bytes
            case 1: size = 1                   // RLE: one byte repeated
            default: return nil                // reserved: not a valid frame
            }
            p += 3 + size
            if last { break }
        }
        if hasChecksum { p += 4 }
        return p <= d.count ? p : nil
    }

    private static func le32(_ d: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(d[o]) | UInt32(d[o + 1]) << 8 | UInt32(d[o + 2]) << 16 | UInt32(d[o + 3]) << 24
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (IEEE, as used by xz and gzip).
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
