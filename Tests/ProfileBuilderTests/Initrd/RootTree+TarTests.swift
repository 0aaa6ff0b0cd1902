import CArchive
import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder
import PenCore

@Suite struct ReadTarTests {
    /// A fresh directory for each test (the suite is made anew for every test).
    let scratch: TemporaryDirectory
    var dir: String { scratch.path }

    init() throws {
        scratch = try TemporaryDirectory()
    }

    /// d/ with a file, a hard link to it, a symlink, a subdirectory, a non-ASCII
    /// name and a file owned by 1000:2000 (appended with different --owner/--group).
    private func makeTar(in dir: String, extraFlags: String = "", name: String = "root.tar") throws -> String {
        let src = "\(dir)/src-\(name)"
        let script = """
            set -e
            mkdir -p \(src)/sub/deeper
            cd \(src)
            printf 'hello world' > file
            ln file hard
            ln -s sub/deeper target-link
            printf 'x' > sub/deeper/f
            printf 'caf\u{e9}' > 'sub/caf\u{e9}'
            chmod 4750 sub/deeper/f
            chmod 0700 sub
            printf 'user data' > owned
            tar -cf \(dir)/\(name) \(extraFlags) --numeric-owner --owner=0 --group=0 ./file ./hard ./target-link ./sub
            tar -rf \(dir)/\(name) \(extraFlags) --numeric-owner --owner=1000 --group=2000 ./owned
            """
        let (status, _) = try shell(script)
        try #require(status == 0)
        return "\(dir)/\(name)"
    }

    /// pax stores the non-ASCII name as UTF-8 in an extended header, which libarchive
    /// converts to the (C) locale with a warning; the raw bytes must still come through.
    @Test(arguments: ["--format=gnu", "--format=pax", "--format=ustar"])
    func readsTarAndCopiesHardLinks(format: String) throws {
        let t = try RootTree.readTar(path: try makeTar(in: dir, extraFlags: format))

        #expect(try t.contents(at: "file") == bytes("hello world"))
        let hard = try #require(t.entry(at: "hard"))
        #expect(hard.kind == .file && hard.path == "hard")
        #expect(try t.contents(of: hard) == bytes("hello world"))
        let link = try #require(t.entry(at: "target-link"))
        #expect(link.kind == .symlink && link.linkTarget == "sub/deeper")
        #expect(t.entry(at: "sub")?.kind == .directory)
        #expect(t.entry(at: "sub")?.mode == 0o700)
        #expect(t.entry(at: "sub/deeper/f")?.mode == 0o4750)
        #expect(try t.contents(at: "sub/caf\u{e9}") == bytes("caf\u{e9}"))
        let owned = try #require(t.entry(at: "owned"))
        #expect(owned.uid == 1000 && owned.gid == 2000)
        #expect(t.entry(at: "file")?.uid == 0)
        #expect(t.count == 8)  // file hard target-link sub sub/deeper sub/deeper/f sub/café owned
        #expect(t.unpackedBytes == UInt64(11 + 11 + 1 + 5 + 9))
        #expect(t.entry(at: "") == nil && t.entry(at: "./") == nil)

        // Packing the tar's tree and reading it back keeps the hard link as an independent copy.
        _ = try InitrdPacker.pack(t, to: "\(dir)/x.img")
        let back = try readInitrd("\(dir)/x.img").entries
        let f = try #require(back.first { $0.path == "file" })
        let h = try #require(back.first { $0.path == "hard" })
        #expect(f.ino != h.ino && f.nlink == 1 && h.nlink == 1 && h.data == f.data)
    }

    @Test func readsTarFromFileDescriptor() throws {
        let tar = try makeTar(in: dir)
        let plain = try RootTree.readTar(path: tar)
        let fd = open(tar, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let viaFD = try RootTree.readTar(fileDescriptor: fd, spoolDirectory: dir)
        #expect(viaFD.count == plain.count)
        #expect(viaFD.sortedEntries().map(\.path) == plain.sortedEntries().map(\.path))
        #expect(try viaFD.contents(at: "hard") == bytes("hello world"))
    }

    /// Only the plain tar a builder VM's GNU tar writes is read: a compressed one (or another
    /// archive format) is more of libarchive for a hostile guest to reach, and a compressed
    /// stream is no longer bounded by the bytes that crossed the port.
    @Test(arguments: ["gzip -c", "zstd -q -c", "xz -c", "bzip2 -c"])
    func compressedTarsAreRefused(compressor: String) throws {
        let tar = try makeTar(in: dir)
        try #require(try shell("\(compressor) \(tar) > \(dir)/root.tar.c").status == 0)
        let error = refusal("\(dir)/root.tar.c")
        guard case .tarOpen = error else { Issue.record("a tar compressed with \(compressor): \(String(describing: error))"); return }
        #expect(error?.description.contains("only a plain, uncompressed tar") == true)
    }

    @Test func otherArchiveFormatsAreRefused() throws {
        try #require(try shell("mkdir \(dir)/src && echo hi > \(dir)/src/f && cd \(dir)/src && echo f | cpio -o -H newc --quiet > \(dir)/root.cpio").status == 0)
        #expect(throws: InitrdError.self) { try RootTree.readTar(path: "\(dir)/root.cpio") }
    }

    @Test func rejectsEscapingAndAbsolutePaths() throws {
        // -P keeps "../" and leading "/" in member names.
        let script = """
            set -e
            mkdir -p \(dir)/a/b
            printf evil > \(dir)/a/evil
            cd \(dir)/a/b
            tar -cPf \(dir)/evil.tar ../evil
            tar -cPf \(dir)/abs.tar \(dir)/a/evil
            tar -cPf \(dir)/sneaky.tar ./../evil
            """
        try #require(try shell(script).status == 0)
        for name in ["evil", "abs", "sneaky"] {
            let error = refusal("\(dir)/\(name).tar")
            guard case .unsafePath = error else { Issue.record("\(name).tar: \(String(describing: error))"); continue }
            #expect(error?.description.contains("\(dir)/\(name).tar") == true)
        }
    }

    @Test func memberBelowSymlinkIsRejected() throws {
        // "a" is a symlink in the first tar and a directory in the appended one.
        let script = """
            set -e
            mkdir -p \(dir)/one \(dir)/two/a
            ln -s /etc \(dir)/one/a
            printf x > \(dir)/two/a/passwd
            tar -cf \(dir)/t.tar -C \(dir)/one a
            tar -rf \(dir)/t.tar -C \(dir)/two a/passwd
            """
        try #require(try shell(script).status == 0)
        #expect(throws: InitrdError.self) { try RootTree.readTar(path: "\(dir)/t.tar") }
    }

    @Test func missingAndCorruptTarsAreTypedErrors() throws {
        do {
            _ = try RootTree.readTar(path: "\(dir)/missing.tar")
            Issue.record("expected an error")
        } catch let e as InitrdError {
            #expect("\(e)".contains("\(dir)/missing.tar"))
        }
        try Data(repeating: 0x55, count: 4096).write(to: URL(fileURLWithPath: "\(dir)/junk.tar"))
        #expect(throws: InitrdError.self) { try RootTree.readTar(path: "\(dir)/junk.tar") }
        // Truncated in the middle of a member's data.
        let tar = try makeTar(in: dir)
        try #require(try shell("head -c 1300 \(tar) > \(dir)/cut.tar").status == 0)
        #expect(throws: InitrdError.self) { try RootTree.readTar(path: "\(dir)/cut.tar") }
    }

    /// A member whose (pax) header claims a terabyte but whose body is five bytes: an error
    /// naming the archive, never a terabyte reserved up front.
    @Test func aForgedMemberSizeIsAnErrorNotAnAllocation() throws {
        let tar = scratch.path + "/forged.tar"
        let script = """
            import io, sys, tarfile
            with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
                info = tarfile.TarInfo("big")
                info.size = 5
                info.pax_headers = {"size": str(1 << 40)}
                t.addfile(info, io.BytesIO(b"hello"))
            """
        try script.write(toFile: scratch.path + "/forge.py", atomically: false, encoding: .utf8)
        try #require(try shell("python3 \(scratch.path)/forge.py \(tar)").status == 0)
        #expect(throws: InitrdError.self) { try RootTree.readTar(path: tar) }
    }
}

// MARK: - Real root filesystem

/// The base image's root layer in the test image cache (built by `make image`).
let realRoot = testImageCache + "/base/rootfs.cpio.zst"

