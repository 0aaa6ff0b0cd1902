import Foundation
import PenTestSupport
import Testing
@testable import PenCore
import CExt2fs
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers

private typealias TempDir = TemporaryDirectory

/// Finds an e2fsprogs/util-linux tool in the usual system directories.
private func tool(_ name: String) -> String? {
    for dir in ["/sbin", "/usr/sbin", "/bin", "/usr/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    return nil
}

/// Runs a tool to completion, stdout and stderr merged.
private func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let executable = try #require(tool(name), "\(name) not found in /sbin, /usr/sbin, /bin or /usr/bin")
    return try runProgram(executable, arguments)
}

/// Bytes the file occupies on the host disk (not its apparent size).
private func allocatedBytes(_ path: String) throws -> UInt64 {
    let st = try #require(lstatOf(path))
    return UInt64(st.st_blocks) * 512
}

private func apparentSize(_ path: String) throws -> UInt64 {
    let st = try #require(lstatOf(path))
    return UInt64(st.st_size)
}

/// e2fsck -fn must exit 0 and print nothing beyond its banner, pass names and summary.
private func expectCleanFsck(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let result = try run("e2fsck", ["-fn", path])
    #expect(result.status == 0, "e2fsck -fn exited \(result.status):\n\(result.output)",
            sourceLocation: sourceLocation)
    let unexpected = result.output.split(separator: "\n").filter { line in
        !(line.hasPrefix("e2fsck ") || line.hasPrefix("Pass ") || line.contains(" files ("))
    }
    #expect(unexpected.isEmpty, "e2fsck reported:\n\(result.output)", sourceLocation: sourceLocation)
}

private let tenGiB: UInt64 = 10 << 30

private var isRoot: Bool { getuid() == 0 }

// MARK: - Tests

@Suite("OverlayDisk")
struct OverlayDiskTests {
    @Test("10 GiB image is clean, sparse, and no bigger than mkfs.ext4's")
    func createTenGiB() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")

        let start = ContinuousClock.now
        try OverlayDisk.create(at: image, size: tenGiB)
        let elapsed = ContinuousClock.now - start

        try expectCleanFsck(image)
        #expect(try apparentSize(image) == tenGiB)
        let st = try #require(lstatOf(image))
        #expect(st.st_mode & S_IFMT == S_IFREG)
        #expect(st.st_mode & 0o077 == 0, "overlay.img must not be readable by others")

        // Baseline: the real mkfs.ext4 on a same-size sparse file.
        let baseline = dir.file("mkfs.img")
        #expect(FileManager.default.createFile(atPath: baseline, contents: nil))
        #expect(truncate(baseline, off_t(tenGiB)) == 0)
        let mkfs = try run("mkfs.ext4", ["-F", "-q", baseline])
        #expect(mkfs.status == 0, "mkfs.ext4 failed: \(mkfs.output)")

        let ours = try allocatedBytes(image)
        let theirs = try allocatedBytes(baseline)
        print("OverlayDisk.create 10 GiB: \(elapsed); allocated \(ours) bytes; mkfs.ext4 allocated \(theirs) bytes")
        #expect(ours <= theirs, "overlay.img allocates \(ours) bytes, mkfs.ext4 \(theirs)")
    }

    @Test("dumpe2fs shows an ext4 with the expected features, clean")
    func features() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        try OverlayDisk.create(at: image, size: 1 << 30, label: "pen-test")

        let dump = try run("dumpe2fs", ["-h", image])
        #expect(dump.status == 0, "dumpe2fs failed: \(dump.output)")
        func field(_ name: String) -> String? {
            for line in dump.output.split(separator: "\n") where line.hasPrefix(name + ":") {
                return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
            }
            return nil
        }
        let features = Set((field("Filesystem features") ?? "").split(separator: " ").map(String.init))
        for wanted in ["has_journal", "extent", "flex_bg", "64bit", "dir_index", "filetype",
                       "sparse_super", "large_file", "huge_file", "dir_nlink", "extra_isize",
                       "metadata_csum"] {
            #expect(features.contains(wanted), "missing feature \(wanted): \(features.sorted())")
        }
        #expect(field("Filesystem state") == "clean")
        #expect(field("Block size") == "4096")
        #expect(field("Inode size") == "256")
        #expect(field("Filesystem volume name") == "pen-test")
        #expect(field("Checksum type") == "crc32c")
        #expect(field("Filesystem UUID").map { $0 != "<none>" && !$0.hasPrefix("00000000") } == true)
        // One inode per 16 KiB, like mkfs's default inode_ratio.
        #expect(field("Inode count") == String((1 << 30) / 16384))
        try expectCleanFsck(image)
    }

    @Test("usage() reads the superblock: total is the disk size, used is small")
    func usage() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        try OverlayDisk.create(at: image, size: tenGiB)

        let (used, total) = try OverlayDisk.usage(of: image)
        #expect(total <= tenGiB)
        #expect(Double(total) >= Double(tenGiB) * 0.97, "total \(total)")
        #expect(used > 0)
        // Inode tables (160 MiB) and the 64 MiB journal: under 3% of the disk.
        #expect(used < tenGiB * 3 / 100, "used \(used)")

        // The same reading of a filesystem made by mkfs.ext4 (which also reserves GDT
        // blocks for resize_inode) agrees with e2fsprogs and is no smaller than ours.
        let baseline = dir.file("mkfs.img")
        #expect(FileManager.default.createFile(atPath: baseline, contents: nil))
        #expect(truncate(baseline, off_t(tenGiB)) == 0)
        let mkfs = try run("mkfs.ext4", ["-F", "-q", baseline])
        #expect(mkfs.status == 0, "mkfs.ext4 failed: \(mkfs.output)")
        let theirs = try OverlayDisk.usage(of: baseline)
        #expect(theirs.total == total)
        #expect(used <= theirs.used, "ours \(used), mkfs \(theirs.used)")
    }

    @Test("usage() bounds the superblock's numbers by the disk file: no total larger than the file")
    func usageOfASuperblockClaimingMoreThanTheFile() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        try OverlayDisk.create(at: image, size: 1 << 30)
        #expect(truncate(image, off_t(512 << 20)) == 0)  // the superblock still says 1 GiB
        let error = try #require(throws: PenError.self) { try OverlayDisk.usage(of: image) }
        #expect(error.description.contains("more than the") && error.description.contains("pen vm fsck"))
    }

    @Test("usage() of something that is not ext4 fails naming the path")
    func usageOfGarbage() throws {
        let dir = try TempDir()
        let junk = dir.file("junk.img")
        #expect(FileManager.default.createFile(atPath: junk, contents: Data(repeating: 0x5A, count: 1 << 20)))
        let error = try #require(throws: PenError.self) { try OverlayDisk.usage(of: junk) }
        #expect(error.description.contains(junk))
        let missing = dir.file("missing.img")
        let error2 = try #require(throws: PenError.self) { try OverlayDisk.usage(of: missing) }
        #expect(error2.description.contains(missing))
    }

    @Test("refuses an existing file and leaves it intact")
    func refusesExistingFile() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        let content = Data("precious".utf8)
        #expect(FileManager.default.createFile(atPath: image, contents: content))

        let error = try #require(throws: PenError.self) {
            try OverlayDisk.create(at: image, size: 64 << 20)
        }
        #expect(error.description.contains(image))
        #expect(error.description.contains("already exists"))
        #expect(FileManager.default.contents(atPath: image) == content)
    }

    @Test("refuses a symlink planted at the path; the target is neither created nor touched")
    func refusesSymlink() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")

        // Dangling link: following it would create the target.
        let target = dir.file("target.img")
        try FileManager.default.createSymbolicLink(atPath: image, withDestinationPath: target)
        let error = try #require(throws: PenError.self) {
            try OverlayDisk.create(at: image, size: 64 << 20)
        }
        #expect(error.description.contains(image))
        #expect(lstatOf(target) == nil, "the symlink's target was created")
        #expect(lstatOf(image).map { $0.st_mode & S_IFMT == S_IFLNK } == true, "the symlink was removed")

        // Link to an existing file: its content must survive.
        let victim = dir.file("victim")
        let content = Data("do not format me".utf8)
        #expect(FileManager.default.createFile(atPath: victim, contents: content))
        let link2 = dir.file("overlay2.img")
        try FileManager.default.createSymbolicLink(atPath: link2, withDestinationPath: victim)
        #expect(throws: PenError.self) { try OverlayDisk.create(at: link2, size: 64 << 20) }
        #expect(FileManager.default.contents(atPath: victim) == content)
        #expect(lstatOf(link2).map { $0.st_mode & S_IFMT == S_IFLNK } == true)
    }

    @Test("refuses a 1 MiB disk with a message and creates nothing")
    func refusesTinySize() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        let error = try #require(throws: PenError.self) {
            try OverlayDisk.create(at: image, size: 1 << 20)
        }
        #expect(error.description.contains(image))
        #expect(error.description.contains("at least 16 MiB"))
        #expect(!error.description.contains("\n"))
        #expect(lstatOf(image) == nil)

        // 16 MiB plus a stray 100 bytes rounds down to exactly 16 MiB and is accepted.
        try OverlayDisk.create(at: image, size: (16 << 20) + 100)
        #expect(try apparentSize(image) == 16 << 20)
        try expectCleanFsck(image)
    }

    @Test("a failed create removes its partial file")
    func failureRemovesPartialFile() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        // A label that does not fit is rejected before anything is created.
        #expect(throws: PenError.self) {
            try OverlayDisk.create(at: image, size: 64 << 20, label: String(repeating: "x", count: 17))
        }
        #expect(lstatOf(image) == nil)
        // Too large for the host (ftruncate fails with EFBIG on ext4 past 16 TiB; we refuse first).
        #expect(throws: PenError.self) {
            try OverlayDisk.create(at: image, size: 1 << 50)
        }
        #expect(lstatOf(image) == nil)
        // Missing parent directory.
        let error = try #require(throws: PenError.self) {
            try OverlayDisk.create(at: dir.file("no/such/dir/overlay.img"), size: 64 << 20)
        }
        #expect(error.description.contains("no/such/dir/overlay.img"))
    }

    @Test("a format failure removes the partial file, and only that file")
    func formatFailureCleansUp() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        struct Boom: Error {}

        // libext2fs fails after writing part of the filesystem.
        let error = try #require(throws: PenError.self) {
            try OverlayDisk.create(at: image, size: 64 << 20, label: "x") { device, blocks, label in
                try Ext4Formatter.format(device: device, blocks: blocks, label: label)
                throw Ext2Failure(step: "testing", code: errcode_t(ENOSPC))
            }
        }
        #expect(error.description.contains(image))
        #expect(error.description.contains("No space left on device"))
        #expect(lstatOf(image) == nil, "the partial image was left behind")

        // Any other error is passed through unchanged, and still cleans up.
        #expect(throws: Boom.self) {
            try OverlayDisk.create(at: image, size: 64 << 20, label: "x") { _, _, _ in throw Boom() }
        }
        #expect(lstatOf(image) == nil)

        // If someone swaps another file in at the path meanwhile, it is not ours to remove.
        let content = Data("someone else's".utf8)
        #expect(throws: Boom.self) {
            try OverlayDisk.create(at: image, size: 64 << 20, label: "x") { _, _, _ in
                #expect(unlink(image) == 0)
                #expect(FileManager.default.createFile(atPath: image, contents: content))
                throw Boom()
            }
        }
        #expect(FileManager.default.contents(atPath: image) == content)
    }

    @Test("Linux mounts it, writes to it, and it stays clean",
          .enabled(if: isRoot, "needs root for mount -o loop"))
    func mountAndWrite() throws {
        let dir = try TempDir()
        let image = dir.file("overlay.img")
        let mountPoint = dir.file("mnt")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        try OverlayDisk.create(at: image, size: 256 << 20)

        let mount = try run("mount", ["-o", "loop", image, mountPoint])
        try #require(mount.status == 0, "mount -o loop failed: \(mount.output)")
        var mounted = true
        defer { if mounted { _ = try? run("umount", [mountPoint]) } }

        let root = try #require(lstatOf(mountPoint))
        #expect(root.st_uid == 0 && root.st_gid == 0)
        #expect(root.st_mode & 0o7777 == 0o755)
        let lostFound = try #require(lstatOf("\(mountPoint)/lost+found"))
        #expect(lostFound.st_mode & S_IFMT == S_IFDIR)

        let payload = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761) })
        #expect(FileManager.default.createFile(atPath: "\(mountPoint)/hello.bin", contents: payload))
        try FileManager.default.createDirectory(atPath: "\(mountPoint)/a/b/c", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(mountPoint)/a/b/c/note", contents: Data("hi\n".utf8)))

        let umount = try run("umount", [mountPoint])
        try #require(umount.status == 0, "umount failed: \(umount.output)")
        mounted = false

        try expectCleanFsck(image)
        let (used, _) = try OverlayDisk.usage(of: image)
        #expect(used > 3 << 20)

        // And the data is still there on a second mount.
        let again = try run("mount", ["-o", "loop,ro", image, mountPoint])
        try #require(again.status == 0, "second mount failed: \(again.output)")
        mounted = true
        #expect(FileManager.default.contents(atPath: "\(mountPoint)/hello.bin") == payload)
        let umount2 = try run("umount", [mountPoint])
        #expect(umount2.status == 0)
        mounted = umount2.status != 0
    }
}
