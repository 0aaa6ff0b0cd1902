// A vmlinux's loadable segments lose their zero tails; what the loader maps stays the same.
import Testing
@testable import ProfileBuilder

@Suite struct ELFTrimTests {
    func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    /// An executable with one PT_LOAD (data, then `zeros` zero bytes) and one section header after it.
    func executable(data: [UInt8], zeros: Int) -> [UInt8] {
        let segmentOffset = 0x1000
        var b = [UInt8](repeating: 0, count: segmentOffset)
        b += data + [UInt8](repeating: 0, count: zeros)
        let shoff = b.count
        b += [UInt8](repeating: 0, count: 64)
        var header = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        header += le(2, 2) + le(0x3E, 2) + le(1, 4) + le(0x100_0000, 8) + le(64, 8) + le(shoff, 8)
        header += le(0, 4) + le(64, 2) + le(56, 2) + le(1, 2) + le(64, 2) + le(1, 2) + le(0, 2)
        b.replaceSubrange(0..<64, with: header)
        let size = data.count + zeros
        let ph = le(1, 4) + le(7, 4) + le(segmentOffset, 8) + le(0x100_0000, 8) + le(0x100_0000, 8)
            + le(size, 8) + le(size + 4096, 8) + le(0x1000, 8)
        b.replaceSubrange(64..<120, with: ph)
        return b
    }

    @Test func theZeroTailLeavesTheFileAndTheMemorySizeStays() throws {
        let data: [UInt8] = Array(1...13)
        let trimmed = try ELF64.trimmingZeroTails(executable(data: data, zeros: 100_000))
        let elf = try ELF64(trimmed)
        #expect(elf.isComplete && elf.shnum == 0 && elf.shoff == 0)
        let load = try #require(try elf.programHeaders().first)
        #expect(load.fileSize == 16)  // 13 bytes, aligned to 8
        #expect(Array(trimmed[load.offset..<(load.offset + 13)]) == data)
        #expect(trimmed.count == load.offset + 16)
        #expect(ELF64.u64(trimmed, 64 + 40) == UInt64(100_013 + 4096))  // p_memsz untouched
    }

    @Test func aSegmentWithoutZerosIsKeptWhole() throws {
        let data = [UInt8](repeating: 7, count: 64)
        let trimmed = try ELF64.trimmingZeroTails(executable(data: data, zeros: 0))
        #expect(try ELF64(trimmed).programHeaders().first?.fileSize == 64)
    }

    @Test func aTruncatedSegmentIsRefused() throws {
        let whole = executable(data: [1, 2, 3], zeros: 50)
        #expect(throws: ELF64.Failure.self) { try ELF64.trimmingZeroTails(Array(whole[0..<0x1010])) }
    }
}
