import Foundation
import Glibc
import PenTestSupport
import Testing
@testable import PenCore

/// A VM disk's copy costs what the VM wrote: a sparse 1 GiB file with two written extents is
/// copied whole (the same bytes everywhere) while only its extents are read and written.
@Suite struct DiskCopyTests {
    let scratch = TemporaryDirectory.fresh("pen-disk-copy")

    @Test func onlyTheWrittenExtentsAreCopiedAndTheHolesStayHoles() throws {
        let size: UInt64 = 1 << 30
        let source = open(scratch.path + "/from.img", O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(source >= 0)
        defer { close(source) }
        try #require(ftruncate(source, off_t(size)) == 0)
        let first = [UInt8](repeating: 0xA5, count: 3 << 20), second = Array("the end".utf8)
        #expect(pwrite(source, first, first.count, 5 << 20) == first.count)
        #expect(pwrite(source, second, second.count, off_t(size) - 4096) == second.count)
        let target = open(scratch.path + "/to.img", O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(target >= 0)
        defer { close(target) }

        let outcome = try DiskCopy.copy(from: source, to: target, size: size, what: "the test disk")
        var st = stat()
        #expect(fstat(target, &st) == 0 && UInt64(st.st_size) == size)
        if outcome.method == .extents {
            #expect(outcome.copiedBytes >= UInt64(first.count) && outcome.copiedBytes < 16 << 20)
            #expect(UInt64(st.st_blocks) * 512 < 16 << 20)  // allocated like the source, not 1 GiB
        }
        var back = [UInt8](repeating: 0, count: first.count)
        #expect(pread(target, &back, back.count, 5 << 20) == back.count && back == first)
        var tail = [UInt8](repeating: 0, count: second.count)
        #expect(pread(target, &tail, tail.count, off_t(size) - 4096) == tail.count && tail == second)
        var hole = [UInt8](repeating: 1, count: 4096)
        #expect(pread(target, &hole, hole.count, 100 << 20) == hole.count && hole.allSatisfy { $0 == 0 })
    }
}
