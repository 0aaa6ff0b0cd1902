import PenTestSupport
import Testing
@testable import ProfileBuilder

@Suite struct KernelImageTests {
    /// A fake bzImage: setup-ish bytes, the compressed vmlinux, then trailing bytes
    /// (the real one ends with the decompressed size and more code).
    static func bzImage(_ elf: [UInt8], _ c: TestArchive.Compression, trailing: Int = 300) -> [UInt8] {
        var image = [UInt8](repeating: 0x90, count: 4096)
        image += TestArchive.compress(elf, c)
        image += (0..<trailing).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        return image
    }

    @Test(arguments: [TestArchive.Compression.xz, .zstd, .gzip])
    func extractsVmlinuxDespiteTrailingBytes(_ c: TestArchive.Compression) throws {
        let elf = TestELF.vmlinux(pvhEntry: 0x0100_0abc)
        let out = try KernelImage.vmlinux(fromBzImage: Self.bzImage(elf, c))
        #expect(out == elf)
        #expect(KernelImage.pvhEntryPoint(elf: out) == 0x0100_0abc)
    }

    @Test func usesTheSetupHeaderPayloadOffset() throws {
        let elf = TestELF.vmlinux(pvhEntry: 0x1000)
        // A decoy xz magic before the real payload; the header points past it.
        var image = [UInt8](repeating: 0, count: 2 * 512)
        image[0x1F1] = 1                                      // setup_sects: payload base = 1024
        image.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        image[0x206] = 0x0F; image[0x207] = 0x02              // protocol 2.15
        image.replaceSubrange(0x300..<0x306, with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])
        image += [UInt8](repeating: 0xAA, count: 100)
        image[0x248] = 100                                    // payload_offset
        image += TestArchive.compress(elf, .xz) + [1, 2, 3, 4]
        #expect(KernelImage.declaredPayloadOffset(image) == 1024 + 100)
        #expect(try KernelImage.vmlinux(fromBzImage: image) == elf)
    }

    @Test func rejectsTruncatedPayload() {
        let elf = TestELF.vmlinux(pvhEntry: 0x1000)
        let full = TestArchive.compress(elf, .xz)
        let image = [UInt8](repeating: 0, count: 512) + full.prefix(full.count / 2)
        #expect(throws: KernelError.self) { try KernelImage.vmlinux(fromBzImage: image) }
        #expect(throws: KernelError.self) { try KernelImage.vmlinux(fromBzImage: [1, 2, 3]) }
        #expect(!KernelImage.isCompleteELF64(Array(elf.prefix(elf.count - 1))))
        #expect(KernelImage.isCompleteELF64(elf))
    }

    @Test func noPVHNote() {
        #expect(KernelImage.pvhEntryPoint(elf: TestELF.vmlinux(pvhEntry: nil)) == nil)
    }

    @Test func writesAtomically() throws {
        let dir = try TemporaryDirectory()
        let elf = TestELF.vmlinux(pvhEntry: 0x1000)
        let path = dir.path + "/vmlinux"
        // What is written is the vmlinux without its zero tails (and section headers): still bootable.
        let expected = try ELF64.trimmingZeroTails(elf)
        #expect(try KernelImage.writeVmlinux(fromBzImage: Self.bzImage(elf, .xz), to: path) == expected.count)
        let written = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written == expected && KernelImage.pvhEntryPoint(elf: written) == 0x1000)
        // No temp files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["vmlinux"])
    }
}

import Foundation
