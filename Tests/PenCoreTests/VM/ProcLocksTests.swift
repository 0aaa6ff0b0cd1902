import Foundation
import Testing
@testable import PenCore

@Suite struct ProcLocksTests {
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
}
