// pen's EROFS writer, checked by the reference implementation: erofs-utils' fsck.erofs verifies
// the image and extracts it, and the extracted tree must be exactly the tree pen wrote.
import Foundation
import Glibc
import PenCore
import PenTestSupport
import Testing
@testable import ProfileBuilder

@Suite struct ErofsWriterTests {
    static let fsck = ["/usr/bin/fsck.erofs", "/sbin/fsck.erofs", "/usr/sbin/fsck.erofs"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Every kind of entry, with edge sizes: empty, inline-sized, one block exactly, a tail,
    /// several blocks; a directory spanning several blocks; owners beyond 16 bits; setuid.
    static func sampleTree(reversed: Bool = false) -> RootTree {
        var entries: [RootEntry] = [
            RootEntry(path: "bin", kind: .directory, mode: 0o755),
            RootEntry(path: "bin/empty", kind: .file, mode: 0o644),
            RootEntry(path: "bin/small", kind: .file, mode: 0o4755, uid: 0, gid: 0, data: Array("#!/bin/sh\necho hi\n".utf8)),
            RootEntry(path: "bin/block", kind: .file, mode: 0o600, uid: 100_000, gid: 65_534,
                      data: (0..<4096).map { UInt8($0 % 251) }),
            RootEntry(path: "bin/tail", kind: .file, mode: 0o640, data: (0..<10_007).map { UInt8($0 % 253) }),
            RootEntry(path: "bin/big", kind: .file, mode: 0o644, data: (0..<1_048_583).map { UInt8(($0 * 7) % 256) }),
            RootEntry(path: "bin/link", kind: .symlink, mode: 0o777, linkTarget: "small"),
            RootEntry(path: "bin/longlink", kind: .symlink, mode: 0o777, linkTarget: String(repeating: "d/", count: 600) + "x"),
            RootEntry(path: "dev", kind: .directory, mode: 0o755),
            RootEntry(path: "dev/null", kind: .characterDevice, mode: 0o666, deviceMajor: 1, deviceMinor: 3),
            RootEntry(path: "dev/vda", kind: .blockDevice, mode: 0o660, gid: 6, deviceMajor: 254, deviceMinor: 0),
            RootEntry(path: "dev/fifo", kind: .fifo, mode: 0o600),
            RootEntry(path: "tmp", kind: .directory, mode: 0o1777),
            RootEntry(path: "many", kind: .directory, mode: 0o700, uid: 1000, gid: 1000),
        ]
        for i in 0..<400 {
            entries.append(RootEntry(path: "many/file-with-a-longish-name-\(i)", kind: .file, mode: 0o644, data: Array("\(i)\n".utf8)))
        }
        var tree = RootTree()
        for entry in reversed ? entries.reversed() : entries { tree.add(entry) }
        return tree
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 8192)
        let n = readlink(path, &buffer, buffer.count)
        return n < 0 ? nil : String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// glibc's makedev (a C macro Swift cannot call).
    static func device(_ major: UInt32, _ minor: UInt32) -> dev_t {
        let (ma, mi) = (UInt64(major), UInt64(minor))
        return dev_t(((ma & 0xfff) << 8) | (mi & 0xff) | ((mi & ~0xff) << 12) | ((ma & ~0xfff) << 32))
    }

    @Test func fsckAcceptsTheImageAndExtractsExactlyTheTree() throws {
        let fsck = try #require(Self.fsck, "fsck.erofs is missing: `make deps` installs erofs-utils")
        let dir = try TemporaryDirectory()
        let image = dir.path + "/root.erofs"
        let tree = Self.sampleTree()
        let result = try ErofsWriter.write(tree, to: image)
        #expect(result.entryCount == tree.count && result.bytes % 4096 == 0)
        #expect(result.bytes == UInt64(try FileManager.default.attributesOfItem(atPath: image)[.size] as! Int))

        let out = dir.path + "/out"
        let check = try runProgram(fsck, ["--extract=\(out)", "--preserve", image])
        #expect(check.status == 0, "\(check.output)")
        for entry in tree.sortedEntries() {
            let path = out + "/" + entry.path
            let st = try #require(lstatOf(path), "\(entry.path) missing from the extracted tree")
            // fsck.erofs 1.5 extracts by chmod then chown, which clears setuid/setgid: those two
            // bits are checked by the kernel itself in the VM tests (test_root_image.py).
            #expect(st.st_mode & 0o1777 == mode_t(entry.mode) & 0o1777, "\(entry.path) mode")
            #expect(st.st_uid == entry.uid && st.st_gid == entry.gid, "\(entry.path) owner")
            switch entry.kind {
            case .file:
                #expect(st.st_mode & S_IFMT == S_IFREG)
                #expect(Array(FileManager.default.contents(atPath: path) ?? Data()) == entry.data, "\(entry.path) content")
            case .directory: #expect(st.st_mode & S_IFMT == S_IFDIR)
            case .symlink: #expect(Self.readLink(path) == entry.linkTarget)
            case .characterDevice, .blockDevice:
                #expect(st.st_mode & S_IFMT == (entry.kind == .characterDevice ? S_IFCHR : S_IFBLK))
                #expect(st.st_rdev == Self.device(entry.deviceMajor, entry.deviceMinor), "\(entry.path) device")
            case .fifo: #expect(st.st_mode & S_IFMT == S_IFIFO)
            case .socket: #expect(st.st_mode & S_IFMT == S_IFSOCK)
            }
        }
        let extracted = try FileManager.default.subpathsOfDirectory(atPath: out)
        #expect(extracted.count == tree.count, "the image holds entries the tree does not")
    }

    @Test func theSameTreeGivesTheSameBytesWhateverTheOrderItWasBuiltIn() throws {
        let dir = try TemporaryDirectory()
        let a = try ErofsWriter.write(Self.sampleTree(), to: dir.path + "/a.erofs")
        let b = try ErofsWriter.write(Self.sampleTree(reversed: true), to: dir.path + "/b.erofs")
        #expect(a.sha256 == b.sha256)
        #expect(try SHA256File.hex(path: dir.path + "/a.erofs") == a.sha256)
        var changed = Self.sampleTree()
        changed.add(RootEntry(path: "bin/small", kind: .file, mode: 0o4755, data: Array("#!/bin/sh\necho ho\n".utf8)))
        #expect(try ErofsWriter.write(changed, to: dir.path + "/c.erofs").sha256 != a.sha256)
    }

    @Test func aFailedWriteLeavesNoFileBehind() throws {
        let dir = try TemporaryDirectory()
        let target = dir.path + "/missing-dir/root.erofs"
        #expect(throws: (any Error).self) { try ErofsWriter.write(Self.sampleTree(), to: target) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
