import Glibc
import Testing
@testable import PenGuestInit

/// Who keeps a mount busy, read from /proc as the init reads it before a suspend: a real process
/// working in a directory, and one holding a file there open.
@Suite struct WorkspaceUsersTests {
    /// `sleep 30` started by sh in `cwd`, its stdout to `stdout` (paths of the test's own).
    func spawnSleep(cwd: String = "/", stdout: String = "/dev/null") throws -> pid_t {
        var child: pid_t = 0
        let script = "cd '\(cwd)' && exec sleep 30 > '\(stdout)'"
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(script), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&child, "/bin/sh", nil, nil, argv, environ) == 0)
        return child
    }

    func end(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    @Test func aProcessWorkingOrWritingUnderTheMountIsNamed() throws {
        var template = Array("/tmp/pen-ws-XXXXXX".utf8CString)
        let dir = String(cString: try #require(mkdtemp(&template)))
        defer { unlink(dir + "/out"); rmdir(dir) }
        let working = try spawnSleep(cwd: dir)
        let writing = try spawnSleep(stdout: dir + "/out")
        let elsewhere = try spawnSleep()
        defer { [working, writing, elsewhere].forEach(end) }
        var tries = 0
        while WorkspaceUsers.find(under: dir).filter({ $0.name == "sleep" }).count < 2 && tries < 500 {
            usleep(10_000)  // until both have exec'd sleep (their comm): bounded, never a hang
            tries += 1
        }
        let users = WorkspaceUsers.find(under: dir)
        #expect(users.map(\.pid).sorted() == [working, writing].sorted())
        #expect(users.allSatisfy { $0.name == "sleep" })
        #expect(WorkspaceUsers.describe(users).contains("sleep (pid \(working))"))
        #expect(!WorkspaceUsers.isUnder(dir + "x/file", dir))  // a sibling with the same prefix is not under it
    }

    @Test func manyUsersAreNamedUpToALimit() {
        let users = (1...12).map { WorkspaceUser(pid: pid_t($0 + 100), name: "p") }
        #expect(WorkspaceUsers.describe(users) == (101...108).map { "p (pid \($0))" }.joined(separator: ", ") + ", and 4 more")
    }
}
