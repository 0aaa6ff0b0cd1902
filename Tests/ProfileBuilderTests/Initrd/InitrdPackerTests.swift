import CArchive
import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder
import PenCore

@Suite struct InitrdPackerTests {
    @Test func packIsDeterministic() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
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
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let r = try InitrdPacker.pack(tree(sampleEntries()), to: "\(dir)/x.img")
        let (status, out) = try shell("sha256sum x.img", cwd: dir)
        #expect(status == 0)
        #expect(out.hasPrefix(r.sha256 + " "))
        #expect(SHA256File.hex(bytes: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func roundTripThroughLibarchive() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
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
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
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
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
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
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
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
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let dest = "\(dir)/initrd.img"
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: dest))
        let r = try InitrdPacker.pack(tree(sampleEntries()), to: dest)
        #expect(try SHA256File.hex(path: dest) == r.sha256)
        #expect(try directoryListing(dir) == ["initrd.img"])
        let attrs = try FileManager.default.attributesOfItem(atPath: dest)
        #expect((attrs[.posixPermissions] as? Int) == 0o644)
    }

    @Test func plantedSymlinkAtTempPathIsNotFollowed() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
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
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        let r = try InitrdPacker.pack(RootTree(), to: "\(dir)/empty.img")
        #expect(r.entryCount == 0)
        #expect(try readInitrd("\(dir)/empty.img").entries.isEmpty)
    }
}

// MARK: - readTar

