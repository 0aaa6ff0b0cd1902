import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct StateOwnershipTests {
    func paths(_ home: String) -> PenPaths { PenPaths(environment: ["PEN_HOME": home]) }

    @Test func stateUnderDirectoriesOnlyThisUserControlsIsAccepted() throws {
        let scratch = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: scratch.path + "/home/vms", withIntermediateDirectories: true)
        try StateOwnership.check(paths(scratch.path + "/home"))
        // Not created yet: pen creates it as this user.
        try StateOwnership.check(paths(scratch.path + "/not-yet"))
    }

    @Test func aWorldWritableDirectoryOnTheWayIsRefusedUnlessSticky() throws {
        let scratch = try TemporaryDirectory()
        let open = scratch.path + "/open"
        try FileManager.default.createDirectory(atPath: open + "/home", withIntermediateDirectories: true)
        chmod(open, 0o777)
        let error = try #require(refusal(paths(open + "/home")))
        #expect(error.message.contains("/open is writable by every user") && error.message.contains("PEN_HOME"))
        chmod(open, 0o1777)  // like /tmp
        try StateOwnership.check(paths(open + "/home"))
    }

    @Test func anotherUsersDirectoryOnTheWayIsRefused() throws {
        try #require(geteuid() == 0, "needs root to give a directory away")  // CI runs as root
        let scratch = try TemporaryDirectory()
        let theirs = scratch.path + "/theirs"
        try FileManager.default.createDirectory(atPath: theirs + "/pen", withIntermediateDirectories: true)
        chown(theirs, 65534, 65534)
        let error = try #require(refusal(paths(theirs + "/pen")))
        #expect(error.message.contains("/theirs belongs to uid 65534"))
        // A link into that tree is judged by where it leads.
        symlink(theirs + "/pen", scratch.path + "/link")
        #expect(refusal(paths(scratch.path + "/link")) != nil)
        // And a link of theirs leading into root's own tree by where it is: they could swap it.
        let mine = scratch.path + "/mine"
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        symlink(mine, theirs + "/state")
        #expect(refusal(paths(theirs + "/state"))?.message.contains("/theirs belongs to uid 65534") == true)
    }

    func refusal(_ paths: PenPaths) -> PenError? {
        do { try StateOwnership.check(paths) } catch { return error }
        return nil
    }
}
