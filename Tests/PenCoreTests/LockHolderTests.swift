import Foundation
import Testing
@testable import PenCore

@Suite struct LockHolderTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "pen-holder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

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

    static let sample = """
        1: OFDLCK ADVISORY  READ -1 fe:00:16302749 201 201
        2: FLOCK  ADVISORY  WRITE 3801 fe:01:1234567 0 EOF
        2: -> FLOCK  ADVISORY  WRITE 3900 fe:01:1234567 0 EOF
        3: POSIX  ADVISORY  WRITE 3192 fe:01:1234567 1073741824 1073742335
        4: FLOCK  ADVISORY  READ 4000 103:1f:1234567 0 EOF
        5: FLOCK  ADVISORY  WRITE 4100 fe:01:7654321 0 EOF
        garbage line
        """

    @Test func procLocksParsing() {
        let entries = ProcLocks.parse(Self.sample)
        #expect(entries.count == 5)  // the waiter (->) and the garbage line are skipped
        #expect(entries[0] == ProcLockEntry(kind: "OFDLCK", mode: "READ", pid: -1, major: 0xfe, minor: 0, inode: 16302749))
        #expect(entries[1] == ProcLockEntry(kind: "FLOCK", mode: "WRITE", pid: 3801, major: 0xfe, minor: 1, inode: 1234567))
        #expect(entries[3].major == 0x103 && entries[3].minor == 0x1f)
    }

    @Test func flockHoldersMatchDeviceAndInode() {
        let dev = dev_t(0xfe01)  // major 0xfe, minor 1 in the kernel's old encoding
        #expect(ProcLocks.flockHolders(in: Self.sample, device: dev, inode: 1234567) == [3801])
        #expect(ProcLocks.flockHolders(in: Self.sample, device: dev, inode: 7654321) == [4100])
        #expect(ProcLocks.flockHolders(in: Self.sample, device: dev, inode: 16302749) == [])
        #expect(ProcLocks.flockHolders(in: "", device: dev, inode: 1234567) == [])
    }

    @Test func deviceNumbersSplitLikeGlibc() {
        #expect(ProcLocks.split(device: 0xfe01) == (0xfe, 0x01))
        // major 0x103, minor 0x1f: glibc puts the major's high bits above bit 32 only past 0xfff.
        #expect(ProcLocks.split(device: 0x1031f) == (0x103, 0x1f))
        // minor 0x12345: low 8 bits at the bottom, the rest from bit 20 up.
        let dev: UInt64 = (0x45) | (0x8 << 8) | (UInt64(0x123) << 20)
        #expect(ProcLocks.split(device: dev) == (0x8, 0x12345))
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
