import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct ScratchDirectoryTests {
    @Test func aScratchDirectoryIsPrivateAndNamedForItsPen() throws {
        let parent = try TemporaryDirectory()
        let scratch = try ScratchDirectory(in: parent.path, prefix: ".build-")
        let name = (scratch.path as NSString).lastPathComponent
        #expect(name.hasPrefix(".build-\(getpid())-"))
        #expect(lstatOf(scratch.path).map { $0.st_mode & 0o777 } == 0o700)
        scratch.remove()
        #expect(lstatOf(scratch.path) == nil)
    }

    @Test func theSweeperRemovesOnlyWhatDeadPensLeft() throws {
        let parent = try TemporaryDirectory()
        let fm = FileManager.default
        let live = ".build-\(getppid())-a"                  // a running process
        let own = ScratchDirectory.name(prefix: ".rm-", rest: "vm")  // this process
        let dead = [".build-2147483640-b", ".rm-2147483641-vm", ".apt-download-2147483642-c"]
        let unrelated = ["build-2147483643-x", ".build-notapid-y", "keep"]
        for d in [live, own] + dead + unrelated { try fm.createDirectory(atPath: parent.file(d), withIntermediateDirectories: false) }
        ScratchDirectory.sweep(in: parent.path, prefixes: [".build-", ".rm-", ".apt-download-"])
        #expect(Set(try fm.contentsOfDirectory(atPath: parent.path)) == Set([live, own] + unrelated))
    }
}
