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
