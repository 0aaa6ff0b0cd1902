// An archive entry's data into a new file, holes kept: the archive's sparse map (the offsets
// libarchive gives with each block) and any run of zeros filling whole 4 KiB blocks are
// skipped, not written, and the file is sized with ftruncate; so a sparse file from the guest
// stays sparse on the host, and a stream of zeros takes no space. Each write is charged to
// the reserve as the 4 KiB blocks it touches, not its bytes: a sparse map of 1-byte segments
// 4 KiB apart takes a block on disk for each (libarchive gives each segment as its own block).
// Not bounded here: libarchive reads a GNU sparse 1.0 map into a list of its own inside
// archive_read_next_header, before pen sees any data, so its memory grows with the map.
import CArchive
import Foundation
import PenCore
import PenIO
import ProfileBuilder

enum SparseFileWriter {
    static let block = 4096
    private static let zeros = [UInt8](repeating: 0, count: block)

    /// Writes the current entry's data (`size`: its length, holes included) to `fd`.
    static func copy(_ a: OpaquePointer, to fd: Int32, size: Int64, space: SpaceReserve, name: () -> String) throws(PenError) {
        var end: Int64 = 0
        var charge = BlockCharge()
        try ArchiveDataBlocks.forEach(a, failed: {
            PenError("pen cp: cannot read \(name())", cause: archive_error_string(a).map { String(cString: $0) })
        }) { (data, offset) throws(PenError) in
            guard data.count > 0 else { return }
            try writeSkippingZeros(data, at: offset, to: fd, space: space, charge: &charge, name: name)
            end = max(end, offset + Int64(data.count))
        }
        guard ftruncate(fd, off_t(max(end, size))) == 0 else { throw space.failed("pen cp: cannot write \(name())") }
    }

    /// Writes `data` at `offset`, leaving out the zero blocks (aligned on the file's 4 KiB
    /// blocks; the file is new, so what is not written reads as zeros).
    private static func writeSkippingZeros(_ data: UnsafeRawBufferPointer, at offset: Int64, to fd: Int32,
                                           space: SpaceReserve, charge: inout BlockCharge, name: () -> String) throws(PenError) {
        var start = 0  // beginning of the run of data not written yet
        var position = 0
        while position < data.count {
            // Up to the next block boundary of the file.
            let fileOffset = offset + Int64(position)
            let blockEnd = min(data.count, position + block - Int(fileOffset % Int64(block)))
            let piece = UnsafeRawBufferPointer(rebasing: data[position..<blockEnd])
            let isZero = piece.count == block && memcmp(piece.baseAddress!, zeros, block) == 0
            if isZero {
                try write(UnsafeRawBufferPointer(rebasing: data[start..<position]), at: offset + Int64(start), fd, space, &charge, name)
                start = blockEnd
            }
            position = blockEnd
        }
        try write(UnsafeRawBufferPointer(rebasing: data[start..<data.count]), at: offset + Int64(start), fd, space, &charge, name)
    }

    private static func write(_ data: UnsafeRawBufferPointer, at offset: Int64, _ fd: Int32,
                              _ space: SpaceReserve, _ charge: inout BlockCharge, _ name: () -> String) throws(PenError) {
        guard data.count > 0 else { return }
        try space.willWrite(charge.blocks(at: offset, count: data.count), on: fd)
        guard writeAll(fd, data, at: offset) else { throw space.failed("pen cp: cannot write \(name())") }
    }
}

/// The bytes of the 4 KiB blocks a write touches, less the block it shares with the write
/// before (data in order comes in runs that meet inside a block). Anything else, a segment out
/// of order included, is charged in full: charging too much is safe, too little is not.
struct BlockCharge {
    private var lastBlock: Int64 = -1

    mutating func blocks(at offset: Int64, count: Int) -> UInt64 {
        let block = Int64(SparseFileWriter.block)
        let start = offset / block * block
        let end = (offset + Int64(count) + block - 1) / block * block
        let first = start == lastBlock ? start + block : start
        lastBlock = end - block
        return end > first ? UInt64(end - first) : 0
    }
}
