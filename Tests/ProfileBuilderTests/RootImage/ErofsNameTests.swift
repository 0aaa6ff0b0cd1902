// File names in a root image are bytes: a name that is not UTF-8 goes through as it is, and a
// name the kernel would refuse (over 255 bytes) is an error naming the file, not a broken image.
import Foundation
import Glibc
import PenCore
import PenTestSupport
import Testing
@testable import ProfileBuilder

@Suite struct ErofsNameTests {
    /// Latin-1 "café" (0xE9 alone is not UTF-8) and a name with a newline, from a real tar,
    /// through the image, extracted by fsck.erofs with the same bytes.
    @Test func namesThatAreNotUTF8AreKeptAsBytes() throws {
        let fsck = try #require(ErofsWriterTests.fsck, "fsck.erofs is missing: `make deps` installs erofs-utils")
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        try #require(try shell("""
            mkdir \(dir)/s && cd \(dir)/s && mkdir "$(printf 'd\\351')" && printf latin1 > "$(printf 'd\\351/caf\\351')" \
            && ln -s "$(printf 'caf\\351')" "$(printf 'd\\351/link')" && tar -cf ../names.tar .
            """).status == 0)
        let tree = try RootTree.readTar(path: dir + "/names.tar")
        let file = try #require(tree.sortedEntries().first { $0.kind == .file })
        #expect(file.pathBytes == [0x64, 0xe9, 0x2f, 0x63, 0x61, 0x66, 0xe9])
        let link = try #require(tree.sortedEntries().first { $0.kind == .symlink })
        #expect(link.linkTargetBytes == [0x63, 0x61, 0x66, 0xe9])

        _ = try ErofsWriter.write(tree, to: dir + "/root.erofs")
        let check = try runProgram(fsck, ["--extract=\(dir)/out", dir + "/root.erofs"])
        #expect(check.status == 0, "\(check.output)")
        let extracted = try #require(Self.contents(dir + "/out", [0x64, 0xe9, 0x2f, 0x63, 0x61, 0x66, 0xe9]))
        #expect(extracted == Data("latin1".utf8))
    }

    /// Reads a file by its raw path bytes (Foundation paths are Strings).
    static func contents(_ base: String, _ name: [UInt8]) -> Data? {
        let path = Array(base.utf8) + [0x2f] + name + [0]
        let fd = path.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_RDONLY | O_NOFOLLOW) } }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        return n < 0 ? nil : Data(buffer[0..<n])
    }

    @Test func aNameOf255BytesIsWrittenAndOneOf256IsRefusedNamingTheFile() throws {
        let fsck = try #require(ErofsWriterTests.fsck, "fsck.erofs is missing: `make deps` installs erofs-utils")
        let scratch = try TemporaryDirectory()
        var fits = RootTree()
        fits.add(RootEntry(path: "d/" + String(repeating: "a", count: 255), kind: .file, mode: 0o644, data: [1]))
        _ = try ErofsWriter.write(fits, to: scratch.path + "/fits.erofs")
        #expect(try runProgram(fsck, [scratch.path + "/fits.erofs"]).status == 0)

        var tooLong = RootTree()
        tooLong.add(RootEntry(path: "d/x\n" + String(repeating: "b", count: 254), kind: .file, mode: 0o644, data: [1]))
        do {
            _ = try ErofsWriter.write(tooLong, to: scratch.path + "/long.erofs")
            Issue.record("a 256-byte name was written")
        } catch let e as PenError {
            let text = e.message
            #expect(text.contains("/d/x\\x0abbb") && text.contains("256 bytes"), "\(text)")
            #expect(!text.contains("\n"))
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/long.erofs"))
    }

    /// The same from an archive: GNU tar stores a long name in its own header.
    @Test func aLongNameFromAnArchiveIsRefused() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let script = """
            import io, sys, tarfile
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
                info = tarfile.TarInfo("etc/" + "n" * 300)
                info.size = 2
                t.addfile(info, io.BytesIO(b"hi"))
            """
        try script.write(toFile: dir + "/make.py", atomically: false, encoding: .utf8)
        try #require(try shell("python3 \(dir)/make.py \(dir)/long.tar").status == 0)
        // Refused as it is read now, before the tree or the image holds anything of it.
        do {
            _ = try RootTree.readTar(path: dir + "/long.tar")
            Issue.record("a 300-byte name was read")
        } catch let e as InitrdError {
            guard case .nameTooLong = e else { Issue.record("wrong error \(e)"); return }
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/root.erofs"))
    }
}
