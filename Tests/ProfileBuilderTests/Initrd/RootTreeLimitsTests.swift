// A root archive comes from a hostile guest: what its files expand to (sparse holes, hard-link
// copies) is bounded, their contents never sit in memory, and names are bytes.
import Foundation
import Glibc
import PenCore
import PenTestSupport
import Testing
@testable import ProfileBuilder

@Suite struct RootTreeLimitsTests {
    /// GNU tar --sparse over a file that is one hole: a few KiB of archive claiming 100 GiB.
    /// Refused from the header alone (before the fix it was zero-filled in memory).
    @Test(arguments: ["--format=gnu", "--format=pax"])
    func aHugeSparseFileIsRefusedFromItsHeader(format: String) throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        try #require(try shell("cd \(dir) && truncate -s 100G big && printf x | dd of=big bs=1 seek=50G conv=notrunc status=none && tar --sparse \(format) -cf sparse.tar big && rm big").status == 0)
        let archiveBytes = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/sparse.tar")[.size] as? Int)
        #expect(archiveBytes < 64 << 10)
        do {
            _ = try RootTree.readTar(path: dir + "/sparse.tar")
            Issue.record("a 100 GiB sparse file was accepted under an 8 GiB limit")
        } catch let e as InitrdError {
            guard case .tooLarge = e else { Issue.record("wrong error \(e)"); return }
            #expect("\(e)".contains("\"big\"") && "\(e)".contains("8"))
        }
    }

    /// Under the limit a sparse file is kept sparse (on disk, not in memory) and reads back exactly.
    @Test func aSparseFileUnderTheLimitKeepsItsHolesOnDisk() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        try #require(try shell("cd \(dir) && truncate -s 2G holey && printf data | dd of=holey bs=1 seek=1G conv=notrunc status=none && tar --sparse --format=pax -cf sparse.tar holey && rm holey").status == 0)
        #expect(throws: InitrdError.self) { try RootTree.readTar(path: dir + "/sparse.tar", maxBytes: 1 << 30) }
        let tree = try RootTree.readTar(path: dir + "/sparse.tar", maxBytes: 3 << 30)
        let e = try #require(tree.entry(at: "holey"))
        #expect(e.size == 2 << 30 && tree.unpackedBytes == 2 << 30)
        let range = try #require(e.spooled)
        var buffer = [UInt8](repeating: 0, count: 8)
        var got: [UInt8] = []
        try tree.spool!.read(SpoolRange(offset: range.offset + (1 << 30) - 2, length: 8), buffer: &buffer) { got += $0 }
        #expect(got == [0, 0] + Array("data".utf8) + [0, 0])
    }

    /// Each hard link is another copy of the file in the image, so it counts again.
    @Test func hardLinkCopiesCountAgainstTheLimit() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        try #require(try shell("mkdir \(dir)/s && cd \(dir)/s && head -c 1M /dev/zero > f && for i in 1 2 3 4 5 6 7 8; do ln f l$i; done && tar -cf ../links.tar .").status == 0)
        let tree = try RootTree.readTar(path: dir + "/links.tar", maxBytes: 9 << 20)
        #expect(tree.unpackedBytes == 9 << 20)
        do {
            _ = try RootTree.readTar(path: dir + "/links.tar", maxBytes: 5 << 20)
            Issue.record("8 hard links to 1 MiB were accepted under a 5 MiB limit")
        } catch let e as InitrdError {
            guard case .tooLarge = e else { Issue.record("wrong error \(e)"); return }
        }
    }

    /// A tar written by Python's tarfile from `members` (a Python list of TarInfo-making expressions).
    func craftedTar(_ dir: String, _ members: String) throws -> String {
        let script = """
        import io, tarfile
        def d(name): t = tarfile.TarInfo(name); t.type = tarfile.DIRTYPE; t.mode = 0o755; return (t, None)
        def f(name): t = tarfile.TarInfo(name); t.size = 1; return (t, io.BytesIO(b"x"))
        def l(name, target): t = tarfile.TarInfo(name); t.type = tarfile.SYMTYPE; t.linkname = target; return (t, None)
        with tarfile.open("\(dir)/crafted.tar", "w", format=tarfile.GNU_FORMAT) as tar:
            for info, data in [\(members)]: tar.addfile(info, data)
        """
        try script.write(toFile: dir + "/make.py", atomically: true, encoding: .utf8)
        try #require(try shell("python3 \(dir)/make.py").status == 0)
        return dir + "/crafted.tar"
    }

    /// Names longer than Linux takes are refused before any work that grows with their length
    /// (a 1 MiB name of `a/a/a/…` once cost its square in memory).
    @Test func namesOverLinuxLimitsAreRefused() throws {
        let scratch = try TemporaryDirectory()
        for members in ["f('a/' * 2100 + 'f')", "f('x' * 300)", "l('link', 'y' * 5000)"] {
            let e = refusal(try craftedTar(scratch.path, members))
            guard case .nameTooLong = e else { Issue.record("\(members): \(String(describing: e))"); continue }
        }
        // At the limits themselves: fine.
        #expect(refusal(try craftedTar(scratch.path, "f('d/' * 2000 + 'f'), f('x' * 255), l('link', 'y' * 4095)")) == nil)
    }

    /// The directories a member implies are entries too: they count against the limit.
    @Test func impliedParentsCountAsEntries() throws {
        let scratch = try TemporaryDirectory()
        let tar = try craftedTar(scratch.path, "f('d/' * 200 + 'f')")
        guard case .tooManyEntries = refusal(tar, maxEntries: 100) else { Issue.record("200 implied directories under a limit of 100"); return }
        #expect(refusal(tar, maxEntries: 201) == nil)
    }

    /// A real root never replaces a directory by a file; each such replacement used to scan the tree.
    @Test func aFileReplacingADirectoryIsRefused() throws {
        let scratch = try TemporaryDirectory()
        guard case .replacesDirectory = refusal(try craftedTar(scratch.path, "d('d'), f('d/x'), f('d')")) else {
            Issue.record("a file replaced a directory"); return
        }
        #expect(refusal(try craftedTar(scratch.path, "f('d'), f('d')")) == nil)  // a file replacing a file is fine
    }

    @Test func entriesAreCounted() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        try #require(try shell("mkdir \(dir)/s && cd \(dir)/s && touch a b c d e f && tar -cf ../many.tar a b c d e f").status == 0)
        #expect(try RootTree.readTar(path: dir + "/many.tar", maxEntries: 6).count == 6)
        #expect(throws: InitrdError.self) { try RootTree.readTar(path: dir + "/many.tar", maxEntries: 5) }
    }

    /// An honest 1 GiB file goes from the tar to the image through the spool: the process's peak
    /// resident memory grows far less than the file (before the fix it held all of it, twice over
    /// while growing). Written as real data through the tar, not as a sparse file.
    @Test func aLargeFileIsRepackedInBoundedMemory() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let script = """
            import sys, tarfile
            class Zeros:
                def __init__(self, n): self.left = n
                def read(self, n=-1):
                    n = self.left if n < 0 else min(n, self.left)
                    self.left -= n
                    return bytes(n)
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
                info = tarfile.TarInfo("big")
                info.size = 1 << 30
                t.addfile(info, Zeros(info.size))
            """
        try script.write(toFile: dir + "/make.py", atomically: false, encoding: .utf8)
        try #require(try shell("python3 \(dir)/make.py \(dir)/big.tar").status == 0)

        try #require(Self.resetPeak(), "cannot reset the peak RSS (/proc/self/clear_refs)")
        let before = try #require(Self.peakKiB())
        let tree = try RootTree.readTar(path: dir + "/big.tar")
        let result = try ErofsWriter.write(tree, to: dir + "/root.erofs")
        let grew = try #require(Self.peakKiB()) - before
        print("[memory] 1 GiB file: peak RSS grew by \(grew / 1024) MiB reading the tar and writing the image")
        #expect(result.unpackedBytes == 1 << 30 && result.bytes > 1 << 30)
        // Other tests run in this process meanwhile; 256 MiB is far below the 1 GiB the old reader held.
        #expect(grew < 256 << 10)
    }

    /// VmHWM: the process's peak resident set, in KiB.
    static func peakKiB() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    }

    /// Writing 5 to clear_refs resets VmHWM to the current RSS.
    static func resetPeak() -> Bool {
        (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
    }
}
