// Tests for the deterministic initrd: RootTree, readTar, InitrdPacker, SHA256File.

import CArchive
import Foundation
import Testing
@testable import ProfileBuilder

// MARK: - Helpers

/// A fresh directory under /tmp, removed by the caller's `defer`.
private func makeTempDir() throws -> String {
    var template = Array("/tmp/pen-initrd-test.XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
    return String(cString: p)
}

private func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@discardableResult
private func shell(_ command: String, cwd: String? = nil) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The sample tree's entries, in the order given.
private func sampleEntries() -> [RootEntry] {
    [
        RootEntry(path: "etc", kind: .directory, mode: 0o755),
        RootEntry(path: "etc/hostname", kind: .file, mode: 0o644, data: bytes("pen\n")),
        RootEntry(path: "etc/shadow", kind: .file, mode: 0o640, uid: 0, gid: 42, data: bytes("root:*:1::::::\n")),
        RootEntry(path: "home/user", kind: .directory, mode: 0o700, uid: 1000, gid: 1000),
        RootEntry(path: "home/user/.profile", kind: .file, mode: 0o600, uid: 1000, gid: 1000,
                  data: Array(repeating: 0x41, count: 100_000)),
        RootEntry(path: "usr/bin/sudo", kind: .file, mode: 0o4755, data: [0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]),
        RootEntry(path: "tmp", kind: .directory, mode: 0o1777),
        RootEntry(path: "bin", kind: .symlink, mode: 0o777, linkTarget: "usr/bin"),
        RootEntry(path: "dev/console", kind: .characterDevice, mode: 0o600, deviceMajor: 5, deviceMinor: 1),
        RootEntry(path: "dev/sda", kind: .blockDevice, mode: 0o660, gid: 6, deviceMajor: 8, deviceMinor: 0),
        RootEntry(path: "run/initctl", kind: .fifo, mode: 0o600),
        RootEntry(path: "empty", kind: .file, mode: 0o644),
        RootEntry(path: "usr/share/caf\u{e9}", kind: .file, mode: 0o644, data: bytes("nfc")),
        RootEntry(path: "usr/share/cafe\u{301}", kind: .file, mode: 0o644, data: bytes("nfd")),
    ]
}

private func tree(_ entries: [RootEntry]) -> RootTree {
    var t = RootTree()
    for e in entries { t.add(e) }
    return t
}

private struct ReadBack {
    var path: String
    var type: UInt32
    var perm: UInt32
    var uid: Int64, gid: Int64
    var mtime: Int
    var ino: Int64
    var nlink: UInt32
    var symlink: String?
    var rdevMajor: UInt64, rdevMinor: UInt64
    var data: [UInt8]
}

/// Reads a zstd-compressed cpio back with libarchive, independently of the reader under test.
private func readInitrd(_ path: String) throws -> (format: String, filter: String, entries: [ReadBack]) {
    let a = try #require(archive_read_new())
    defer { archive_read_free(a) }
    archive_read_support_filter_zstd(a)
    archive_read_support_format_cpio(a)
    try #require(archive_read_open_filename(a, path, 65536) == ARCHIVE_OK)
    var out: [ReadBack] = []
    var entry: OpaquePointer?
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let r = archive_read_next_header(a, &entry)
        if r == ARCHIVE_EOF { break }
        try #require(r == ARCHIVE_OK, "\(String(cString: archive_error_string(a)))")
        let e = try #require(entry)
        var data: [UInt8] = []
        while true {
            let n = buf.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            try #require(n >= 0)
            if n == 0 { break }
            data += buf[0..<n]
        }
        out.append(ReadBack(
            path: String(cString: archive_entry_pathname(e)),
            type: UInt32(archive_entry_filetype(e)), perm: UInt32(archive_entry_perm(e)),
            uid: archive_entry_uid(e), gid: archive_entry_gid(e),
            mtime: Int(archive_entry_mtime(e)), ino: archive_entry_ino64(e),
            nlink: UInt32(archive_entry_nlink(e)),
            symlink: archive_entry_symlink(e).map { String(cString: $0) },
            rdevMajor: UInt64(archive_entry_rdevmajor(e)), rdevMinor: UInt64(archive_entry_rdevminor(e)),
            data: data))
    }
    let format = String(cString: archive_format_name(a))
    let filter = String(cString: archive_filter_name(a, 0))
    return (format, filter, out)
}

private func contents(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

private func directoryListing(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
}

// MARK: - RootTree

@Suite struct RootTreeTests {
    @Test func addCreatesParentsAndNormalises() throws {
        var t = RootTree()
        t.add(RootEntry(path: "./usr//lib/./x.so", kind: .file, mode: 0o644, data: [1, 2, 3]))
        #expect(t.count == 3)
        #expect(t.entry(at: "usr/lib/x.so")?.data == [1, 2, 3])
        #expect(t.entry(at: "usr/lib/x.so")?.path == "usr/lib/x.so")
        let usr = try #require(t.entry(at: "usr"))
        #expect(usr.kind == .directory && usr.mode == 0o755 && usr.uid == 0 && usr.gid == 0)
        #expect(t.entry(at: "/usr/lib")?.kind == .directory)
        #expect(t.unpackedBytes == 3)

        // A real directory entry replaces the synthesised one.
        t.add(RootEntry(path: "usr", kind: .directory, mode: 0o700, uid: 7))
        #expect(t.entry(at: "usr")?.mode == 0o700)
        #expect(t.count == 3)

        // Replacing a file adjusts the byte count.
        t.add(RootEntry(path: "usr/lib/x.so", kind: .file, mode: 0o644, data: [9]))
        #expect(t.unpackedBytes == 1)
        #expect(t.count == 3)
    }

    @Test func removePrefixRemovesSubtreeOnly() {
        var t = tree(sampleEntries())
        t.add(RootEntry(path: "etcetera", kind: .file, mode: 0o644, data: [1]))
        let before = t.count
        t.remove(prefix: "etc")
        #expect(t.entry(at: "etc") == nil)
        #expect(t.entry(at: "etc/hostname") == nil)
        #expect(t.entry(at: "etcetera") != nil)
        #expect(t.count == before - 3)
        t.remove(prefix: "/")
        #expect(t.count == 0 && t.unpackedBytes == 0)
    }

    @Test func treeStaysATree() {
        var t = RootTree()
        t.add(RootEntry(path: "a/b/c", kind: .file, mode: 0o644, data: [1, 2]))
        // A directory replaced by a non-directory loses its contents.
        t.add(RootEntry(path: "a", kind: .symlink, mode: 0o777, linkTarget: "elsewhere"))
        #expect(t.count == 1)
        #expect(t.unpackedBytes == 0)
        // Adding below a non-directory turns it into a directory.
        t.add(RootEntry(path: "a/d", kind: .file, mode: 0o644))
        #expect(t.entry(at: "a")?.kind == .directory)
    }

    @Test func nfcAndNfdNamesStayDistinct() {
        let t = tree(sampleEntries())
        #expect(t.entry(at: "usr/share/caf\u{e9}")?.data == bytes("nfc"))
        #expect(t.entry(at: "usr/share/cafe\u{301}")?.data == bytes("nfd"))
    }
}

// MARK: - Packing

@Suite struct InitrdPackerTests {
    @Test func packIsDeterministic() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let entries = sampleEntries()

        let r1 = try InitrdPacker.pack(tree(entries), to: "\(dir)/a.img")
        let r2 = try InitrdPacker.pack(tree(entries), to: "\(dir)/b.img")
        let r3 = try InitrdPacker.pack(tree(entries.reversed()), to: "\(dir)/c.img")
        var shuffled = entries
        shuffled.shuffle()
        let r4 = try InitrdPacker.pack(tree(shuffled), to: "\(dir)/d.img")

        let a = try contents("\(dir)/a.img")
        #expect(a == (try contents("\(dir)/b.img")))
        #expect(a == (try contents("\(dir)/c.img")))
        #expect(a == (try contents("\(dir)/d.img")))
        #expect(Set([r1.sha256, r2.sha256, r3.sha256, r4.sha256]).count == 1)
        #expect(r1.sha256 == (try SHA256File.hex(path: "\(dir)/a.img")))
        #expect(r1.sha256 == SHA256File.hex(bytes: a))
        #expect(r1.compressedBytes == UInt64(a.count))
        #expect(r1.entryCount == tree(entries).count)
        #expect(r1.unpackedBytes == tree(entries).unpackedBytes)

        // One changed byte in one file changes the output.
        var changed = entries
        changed[4].data[50_000] = 0x42
        let r5 = try InitrdPacker.pack(tree(changed), to: "\(dir)/e.img")
        #expect(r5.sha256 != r1.sha256)
        // So does a changed owner: ids are content.
        var chowned = entries
        chowned[1].uid = 1
        #expect(try InitrdPacker.pack(tree(chowned), to: "\(dir)/f.img").sha256 != r1.sha256)
    }

    @Test func shaMatchesSystemTool() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let r = try InitrdPacker.pack(tree(sampleEntries()), to: "\(dir)/x.img")
        let (status, out) = try shell("sha256sum x.img", cwd: dir)
        #expect(status == 0)
        #expect(out.hasPrefix(r.sha256 + " "))
        #expect(SHA256File.hex(bytes: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func roundTripThroughLibarchive() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let t = tree(sampleEntries())
        _ = try InitrdPacker.pack(t, to: "\(dir)/x.img")
        let (format, filter, read) = try readInitrd("\(dir)/x.img")
        #expect(format.contains("SVR4"))  // libarchive's name for newc
        #expect(filter == "zstd")

        let paths = read.map(\.path)
        let expectedPaths = t.sortedEntries().map(\.path)
        #expect(paths == expectedPaths)
        #expect(paths.first == "bin" && paths.contains("home") && paths.contains("usr/share"))

        for (i, r) in read.enumerated() {
            let e = try #require(t.entry(at: r.path))
            #expect(r.perm == e.mode, "\(r.path)")
            #expect(r.uid == Int64(e.uid) && r.gid == Int64(e.gid), "\(r.path)")
            #expect(r.mtime == InitrdPacker.fixedModificationTime, "\(r.path)")
            #expect(r.ino == Int64(i + 1), "\(r.path)")
            #expect(r.nlink == (e.kind == .directory ? 2 : 1), "\(r.path)")
            switch e.kind {
            case .file:
                #expect(r.type == FileType.regular && r.data == e.data, "\(r.path)")
            case .directory:
                #expect(r.type == FileType.directory)
            case .symlink:
                #expect(r.type == FileType.symlink && r.symlink == e.linkTarget)
            case .characterDevice:
                #expect(r.type == FileType.characterDevice && r.rdevMajor == 5 && r.rdevMinor == 1)
            case .blockDevice:
                #expect(r.type == FileType.blockDevice && r.rdevMajor == 8 && r.rdevMinor == 0)
            case .fifo:
                #expect(r.type == FileType.fifo)
            case .socket:
                #expect(r.type == FileType.socket)
            }
        }
        #expect(t.entry(at: "usr/bin/sudo")?.mode == 0o4755)
        #expect(read.first { $0.path == "tmp" }?.perm == 0o1777)
    }

    @Test func systemToolsAgree() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let t = tree(sampleEntries())
        _ = try InitrdPacker.pack(t, to: "\(dir)/x.img")
        // zstd -t fails on trailing padding after the frame, so this also checks there is none.
        #expect(try shell("zstd -q -t x.img", cwd: dir).status == 0)
        let (status, out) = try shell("zstd -dc x.img | cpio -t --quiet", cwd: dir)
        #expect(status == 0)
        let listed = out.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        #expect(listed == t.sortedEntries().map(\.path))
        // GNU cpio checks the newc magic and the trailer; -tv shows the fixed mtime and owners.
        let (vs, verbose) = try shell("zstd -dc x.img | cpio -tv --numeric-uid-gid --quiet", cwd: dir)
        #expect(vs == 0)
        #expect(verbose.contains("1000     1000"))
        #expect(verbose.contains("1970"))
    }

    @Test func invalidLevelLeavesOldFileIntact() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let dest = "\(dir)/initrd.img"
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: dest))
        for level in [0, 23, 99, -5] {
            #expect(throws: InitrdError.self) {
                try InitrdPacker.pack(tree(sampleEntries()), to: dest, zstdLevel: level)
            }
        }
        #expect(try contents(dest) == bytes("old contents"))
        #expect(try directoryListing(dir) == ["initrd.img"])
        do {
            _ = try InitrdPacker.pack(tree(sampleEntries()), to: dest, zstdLevel: 99)
        } catch {
            #expect("\(error)".contains(dest) && "\(error)".contains("99"))
        }
    }

    @Test func failureMidWriteLeavesOldFileIntactAndNoTemp() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let dest = "\(dir)/initrd.img"
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: dest))
        let hooks = InitrdPacker.TestHooks(failAfterEntries: 5)
        #expect(throws: InitrdError.self) {
            try InitrdPacker.pack(tree(sampleEntries()), to: dest, zstdLevel: 3, hooks: hooks)
        }
        #expect(try contents(dest) == bytes("old contents"))
        #expect(try directoryListing(dir) == ["initrd.img"])
    }

    @Test func successReplacesOldFileAndLeavesNoTemp() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let dest = "\(dir)/initrd.img"
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: dest))
        let r = try InitrdPacker.pack(tree(sampleEntries()), to: dest)
        #expect(try SHA256File.hex(path: dest) == r.sha256)
        #expect(try directoryListing(dir) == ["initrd.img"])
        let attrs = try FileManager.default.attributesOfItem(atPath: dest)
        #expect((attrs[.posixPermissions] as? Int) == 0o644)
    }

    @Test func plantedSymlinkAtTempPathIsNotFollowed() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let dest = "\(dir)/initrd.img"
        let victim = "\(dir)/victim"
        let temp = "\(dir)/.initrd.img.tmp"
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: dest))
        try Data("victim".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: temp, withDestinationPath: victim)
        // Also a dangling one: O_CREAT without O_EXCL would create its target.
        let dangling = "\(dir)/.dangling.tmp"
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "\(dir)/created")

        #expect(throws: InitrdError.self) {
            try InitrdPacker.pack(tree(sampleEntries()), to: dest, zstdLevel: 3,
                                  hooks: .init(temporaryPath: temp))
        }
        #expect(throws: InitrdError.self) {
            try InitrdPacker.pack(tree(sampleEntries()), to: dest, zstdLevel: 3,
                                  hooks: .init(temporaryPath: dangling))
        }
        #expect(try contents(victim) == bytes("victim"))
        #expect(try contents(dest) == bytes("old contents"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/created"))
        // The planted links are not ours to remove.
        #expect(try directoryListing(dir) == [".dangling.tmp", ".initrd.img.tmp", "initrd.img", "victim"])
    }

    @Test func missingDirectoryIsATypedError() throws {
        do {
            _ = try InitrdPacker.pack(tree(sampleEntries()), to: "/nonexistent-pen-dir/initrd.img")
            Issue.record("expected an error")
        } catch let e as InitrdError {
            #expect("\(e)".contains("/nonexistent-pen-dir/"))
            #expect("\(e)".contains("No such file or directory"))
        }
        #expect(throws: InitrdError.self) { try InitrdPacker.pack(RootTree(), to: "/tmp/") }
    }

    @Test func emptyTreePacksToValidArchive() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let r = try InitrdPacker.pack(RootTree(), to: "\(dir)/empty.img")
        #expect(r.entryCount == 0)
        #expect(try readInitrd("\(dir)/empty.img").entries.isEmpty)
    }
}

// MARK: - readTar

@Suite struct ReadTarTests {
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
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let t = try RootTree.readTar(path: try makeTar(in: dir, extraFlags: format))

        #expect(t.entry(at: "file")?.data == bytes("hello world"))
        let hard = try #require(t.entry(at: "hard"))
        #expect(hard.kind == .file && hard.data == bytes("hello world") && hard.path == "hard")
        let link = try #require(t.entry(at: "target-link"))
        #expect(link.kind == .symlink && link.linkTarget == "sub/deeper")
        #expect(t.entry(at: "sub")?.kind == .directory)
        #expect(t.entry(at: "sub")?.mode == 0o700)
        #expect(t.entry(at: "sub/deeper/f")?.mode == 0o4750)
        #expect(t.entry(at: "sub/caf\u{e9}")?.data == bytes("caf\u{e9}"))
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

    @Test func readsCompressedTarFromFileDescriptor() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let tar = try makeTar(in: dir)
        let plain = try RootTree.readTar(path: tar)
        try #require(try shell("zstd -q \(tar) -o \(dir)/root.tar.zst").status == 0)
        let fd = open("\(dir)/root.tar.zst", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let viaFD = try RootTree.readTar(fileDescriptor: fd)
        #expect(viaFD.count == plain.count)
        #expect(viaFD.sortedEntries().map(\.path) == plain.sortedEntries().map(\.path))
        #expect(viaFD.entry(at: "hard")?.data == bytes("hello world"))
    }

    @Test func rejectsEscapingAndAbsolutePaths() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
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
            do {
                _ = try RootTree.readTar(path: "\(dir)/\(name).tar")
                Issue.record("\(name).tar was accepted")
            } catch let e as InitrdError {
                guard case .unsafePath = e else { Issue.record("wrong error \(e)"); continue }
                #expect("\(e)".contains("\(dir)/\(name).tar"))
            }
        }
    }

    @Test func memberBelowSymlinkIsRejected() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
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
        let dir = try makeTempDir()
        defer { removeTree(dir) }
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
}

// MARK: - Real root filesystem

/// The base image's root layer in the test image cache (built by `make image`).
private let realRoot = testImageCache + "/base/rootfs.cpio.zst"

@Suite struct RealRootTests {
    /// Reading the packed Debian root back and packing it again must reproduce it byte for byte:
    /// the packer is a pure function of the tree, and the reader loses nothing the packer writes.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: realRoot), "run `make image` first (needs \(realRoot))"))
    func repackingTheRealRootIsByteIdentical() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
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
