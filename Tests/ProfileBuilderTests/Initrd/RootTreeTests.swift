import CArchive
import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder
import PenCore

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

