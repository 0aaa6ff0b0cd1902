import Foundation
import Testing
@testable import PenCore

@Suite struct SubprocessTests {
    @Test func toolsRunOutsideTheWorkspaceWithASystemPATH() throws {
        let r = try Subprocess.run("/bin/sh", ["-c", "echo \"$PATH\"; pwd"])
        #expect(r.stdout == ChildEnvironment.path + "\n/\n")
        #expect(!ChildEnvironment.path.split(separator: ":").contains { !$0.hasPrefix("/") })
        let given = try Subprocess.run("/bin/sh", ["-c", "pwd"], directory: "/tmp")
        #expect(given.stdout == "/tmp\n")
    }
}
