import CArchive
import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder
import PenCore

@Suite struct RealRootTests {
    /// Reading the packed Debian root back and packing it again must reproduce it byte for byte:
    /// the packer is a pure function of the tree, and the reader loses nothing the packer writes.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: realRoot), "run `make image` first (needs \(realRoot))"))
    func repackingTheRealRootIsByteIdentical() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let clock = ContinuousClock()
        var tree = RootTree()
        let readTime = try clock.measure { tree = try RootTree.readTar(path: realRoot) }
        #expect(tree.count > 5000)
        #expect(tree.entry(at: "usr/bin/perl5.36.0")?.data == tree.entry(at: "usr/bin/perl")?.data)
        #expect(tree.entry(at: "lib")?.kind == .symlink)

        var r1: PackResult?, r2: PackResult?
        let t1 = try clock.measure { r1 = try InitrdPacker.pack(tree, to: "\(dir)/a.img", zstdLevel: 3) }
        let t2 = try clock.measure { r2 = try InitrdPacker.pack(tree, to: "\(dir)/b.img", zstdLevel: 3) }
        let a = try #require(r1), b = try #require(r2)
        #expect(a.sha256 == b.sha256)
        #expect(a.sha256 == (try SHA256File.hex(path: realRoot)))
        #expect(try shell("zstd -dc a.img | cpio -t --quiet | wc -l", cwd: dir).out
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "\(a.entryCount)")
        print("""
            [initrd] \(realRoot): read \(readTime), \(tree.count) entries, \(tree.unpackedBytes) bytes unpacked
            [initrd] level 3: pack \(t1) / \(t2), \(a.compressedBytes) bytes compressed, sha256 \(a.sha256)
            """)
    }
}
