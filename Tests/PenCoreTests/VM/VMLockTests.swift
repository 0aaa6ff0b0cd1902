import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct VMLockTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh()

    @Test func holderIsOurPidWhileHeldAndNilAfterRelease() throws {
        let path = dir + "/lock"
        var lock: VMLock? = try VMLock(path: path, vmName: try VMName("h"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(getpid())\n")
        #expect(VMLock.holder(path: path) == getpid())
        #expect(lock != nil)
        lock = nil
        #expect(VMLock.holder(path: path) == nil)
    }

    @Test func aPidInAnUnlockedFileIsNotTrusted() throws {
        let path = dir + "/lock"
        try "\(getpid())\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(VMLock.holder(path: path) == nil)
        #expect(VMLock.holder(path: dir + "/missing") == nil)
    }

    @Test func aPidThatDoesNotHoldTheLockIsNotReturned() throws {
        let path = dir + "/lock"
        let lock = try VMLock(path: path, vmName: try VMName("h"))
        // Someone rewrites the file with another live process's pid: it holds nothing here.
        let fd = open(path, O_WRONLY | O_TRUNC)
        _ = "1\n".withCString { write(fd, $0, 2) }
        close(fd)
        #expect(VMLock.holder(path: path) == nil)
        withExtendedLifetime(lock) {}
    }

    @Test func rewritingTheLockFileKeepsOnlyThePid() throws {
        let path = dir + "/lock"
        try "999999999 and a long stale tail\n".write(toFile: path, atomically: false, encoding: .utf8)
        let lock = try VMLock(path: path, vmName: try VMName("h"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(getpid())\n")
        withExtendedLifetime(lock) {}
    }

    @Test func lockIsExclusiveAndReleasedOnClose() throws {
        let name = try VMName("t")
        let path = dir + "/lock"
        var first: VMLock? = try VMLock(path: path, vmName: name)
        #expect(VMLock.isHeld(path: path))
        #expect {
            try VMLock(path: path, vmName: name)
        } throws: { ($0 as? PenError)?.message.contains("already running") == true }
        #expect(first != nil)
        first = nil
        #expect(!VMLock.isHeld(path: path))
        _ = try VMLock(path: path, vmName: name)
    }


    @Test func holderMatchesTheRealLockTable() throws {
        // The device numbers stat() reports are the ones /proc/locks prints.
        let path = dir + "/lock"
        let lock = try VMLock(path: path, vmName: try VMName("h"))
        var st = stat()
        #expect(stat(path, &st) == 0)
        let table = try String(contentsOfFile: "/proc/locks", encoding: .utf8)
        #expect(ProcLocks.flockHolders(in: table, device: st.st_dev, inode: st.st_ino) == [getpid()])
        withExtendedLifetime(lock) {}
    }
}
