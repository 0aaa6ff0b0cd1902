import Glibc
import PenTestSupport
import Testing
@testable import PenGuestInit

/// init's file operations over a root the guest's packages shaped: links are replaced, never
/// written through; every failure names its stage and errno.
@Suite struct FilesTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh("pen-guest-files")

    func contents(_ path: String) -> String? { Files.read(path).map { String(decoding: $0, as: UTF8.self) } }

    @Test func replacingALinkReplacesTheLinkAndLeavesItsTargetAlone() throws {
        let target = try scratch.write("elsewhere/resolv.conf", "nameserver 1.1.1.1\n")
        let link = scratch.file("resolv.conf")
        #expect(symlink(target, link) == 0)
        try Files.replace(link, "nameserver 10.0.2.3\n")
        #expect(lstatOf(link).map { $0.st_mode & S_IFMT } == S_IFREG)
        #expect(contents(link) == "nameserver 10.0.2.3\n")
        #expect(contents(target) == "nameserver 1.1.1.1\n")
        #expect(!Files.exists(link + ".pen-new"))
    }

    @Test func replacingAFileWritesItsNewContentWithTheMode() throws {
        let path = try scratch.write("hostname", "old-name-that-is-longer\n")
        try Files.replace(path, "box\n", mode: 0o600)
        #expect(contents(path) == "box\n")
        #expect(lstatOf(path).map { $0.st_mode & 0o777 } == 0o600)
    }

    @Test func writingThroughALinkIsRefusedWithTheStageAndErrno() throws {
        let target = try scratch.write("target", "kept\n")
        let link = scratch.file("setup.sh")
        #expect(symlink(target, link) == 0)
        do throws(InitFailure) {
            try Files.write(link, "echo pwned\n")
            Issue.record("wrote through a symlink")
        } catch {
            #expect(error.stage == "files")
            #expect(error.line == "pen-init: files: open \(link): errno \(ELOOP) (\(String(cString: strerror(ELOOP))))")
        }
        #expect(contents(target) == "kept\n")
    }

    @Test func parentDirectoriesAreMadeAndExistingOnesKept() throws {
        let marker = dir + "/var/lib/pen/setup-done"
        try Files.makeParentDirectories(of: marker)
        #expect(Files.isDirectory(dir + "/var/lib/pen"))
        #expect(!Files.exists(marker))
        try Files.makeParentDirectories(of: marker)  // again: nothing to do, no error
        try Files.write(marker, "")
        #expect(contents(marker) == "")
    }

    @Test func aMissingFileReadsAsNil() {
        #expect(Files.read(dir + "/missing") == nil)
        #expect(!Files.isDirectory(dir + "/missing"))
    }

    @Test func aFailedSyscallThrowsOnlyOnMinusOne() throws {
        #expect(try sys(0, "early", "fine") == 0)
        #expect(try sys(5, "early", "fine") == 5)
        errno = ENOENT
        #expect(throws: InitFailure.self) { try sys(-1, "early", "mount proc") }
    }
}
