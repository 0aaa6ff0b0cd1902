import Glibc
import PenTestSupport
import Testing
@testable import PenGuestInit

/// The one `e2fsck -p` init runs on a disk that does not mount, here with the host's own
/// e2fsck and loader (root "") on real ext4 images: what counts as repaired, what does not.
@Suite(.enabled(if: access("/usr/sbin/e2fsck", X_OK) == 0 && access("/usr/sbin/debugfs", X_OK) == 0,
                "needs e2fsprogs (make deps)"))
struct DiskRepairTests: ScratchSuite {
    let scratch = TemporaryDirectory.fresh("pen-guest-fsck")

    func makeDisk(_ commands: [String] = []) throws -> String {
        let disk = dir + "/disk.ext4"
        #expect(try runProgram("truncate", ["-s", "16M", disk]).status == 0)
        #expect(try runProgram("/usr/sbin/mkfs.ext4", ["-q", "-F", disk]).status == 0)
        for command in commands { #expect(try runProgram("/usr/sbin/debugfs", ["-w", "-R", command, disk]).status == 0) }
        return disk
    }

    @Test func aCleanDiskIsLeftAlone() throws {
        let outcome = DiskRepair.preen(try makeDisk(), root: "")
        #expect(outcome.status == 0)
        #expect(!outcome.repaired)
    }

    @Test func aDiskNotCleanlyUnmountedWithWrongCountsIsRepaired() throws {
        let disk = try makeDisk(["ssv state 0", "ssv free_blocks_count 17"])
        let outcome = DiskRepair.preen(disk, root: "")
        #expect(outcome.status == 1)
        #expect(outcome.repaired)
        #expect(outcome.summary.contains("files"))
        #expect(DiskRepair.preen(disk, root: "").status == 0)  // and it is clean now
    }

    @Test func somethingThatIsNotExt4IsNotRepairedAndSaysWhy() throws {
        let disk = dir + "/zeros"
        #expect(try runProgram("truncate", ["-s", "4M", disk]).status == 0)
        let outcome = DiskRepair.preen(disk, root: "")
        #expect(outcome.status >= 4)
        #expect(!outcome.repaired)
        // The last lines, on one line (e2fsck's advice to try a backup superblock, here).
        #expect(outcome.summary.contains("e2fsck -b"))
        #expect(!outcome.summary.contains("\n"))
    }

    @Test func aRootWithoutE2fsckIsNotARepair() throws {
        let outcome = DiskRepair.preen(try makeDisk(), root: dir + "/empty-root")
        #expect(outcome.status >= 4)
        #expect(!outcome.repaired)
    }
}
