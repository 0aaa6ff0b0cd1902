import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct ChildProcessTests {
    /// A helper dropped while it runs (a restarted boot's passt) is killed and reaped: no zombie.
    @Test func aChildDroppedWhileRunningIsKilledAndReaped() throws {
        let scratch = try TemporaryDirectory()
        var child: ChildProcess? = try ChildProcess.start(["/bin/sleep", "60"], logPath: scratch.path + "/log", inheriting: [])
        let pid = try #require(child?.pid)
        #expect(kill(pid, 0) == 0)
        child = nil
        // Reaped means gone from the process table: not even a zombie answers a signal.
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    /// Only the descriptors named are inherited: another one pen holds open stays closed in the child.
    @Test func aChildInheritsOnlyTheDescriptorsItIsGiven() throws {
        let scratch = try TemporaryDirectory()
        var kept: [Int32] = [-1, -1], other: [Int32] = [-1, -1]
        #expect(pipe(&kept) == 0 && pipe(&other) == 0)  // no O_CLOEXEC: an inherited-by-accident descriptor
        defer { [kept[0], kept[1], other[0], other[1]].forEach { close($0) } }
        let child = try ChildProcess.start(["/bin/sh", "-c", "ls /proc/self/fd"], logPath: scratch.path + "/log",
                                           inheriting: [kept[1]])
        _ = child.wait(seconds: 30)
        let listed = Set(try String(contentsOfFile: scratch.path + "/log", encoding: .utf8).split(separator: "\n").compactMap { Int32($0) })
        #expect(listed.contains(kept[1]))
        #expect(!listed.contains(other[0]) && !listed.contains(other[1]) && !listed.contains(kept[0]))
    }
}

@Suite struct ExecuteOnlyQEMUTests {
    /// A root pen's QEMU runs as another user from an execute-only copy in root's private cache:
    /// started through a descriptor, it runs though that user cannot reach the copy's path.
    @Test func anExecuteOnlyCopyInAPrivateDirectoryRunsAsAnotherUser() throws {
        try #require(geteuid() == 0, "needs root to start a process as nobody")  // CI runs as root
        let scratch = try TemporaryDirectory()
        chmod(scratch.path, 0o700)
        let copy = try ExecuteOnlyQEMU.copy(of: "/bin/true", in: scratch.path + "/qemu")
        var st = stat()
        #expect(lstat(copy, &st) == 0 && st.st_mode & 0o7777 == 0o111 && st.st_uid == 0)
        // Made once per build: asked again, the same file.
        #expect(try ExecuteOnlyQEMU.copy(of: "/bin/true", in: scratch.path + "/qemu") == copy)
        let fd = open(copy, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        let child = try ChildProcess.start([copy], logPath: scratch.path + "/log", inheriting: [], as: .nobody,
                                           executing: fd)
        let status = child.wait(seconds: 30)
        #expect(status == 0, "wait status \(status): \((try? String(contentsOfFile: scratch.path + "/log", encoding: .utf8)) ?? "")")
    }
}
