import Foundation
import PenTestSupport
import Testing
@testable import PenCore

@Suite struct WorkspaceDirectoryTests {
    @Test func workspaceMustBeARealDirectoryOtherThanRoot() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/real")
        let resolved = try WorkspaceDirectory.resolve(dir + "/link/../real/.")
        #expect(resolved.hasSuffix("/real") && !resolved.contains(".."))
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve("/") }
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve(dir + "/missing") }
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        #expect(throws: PenError.self) { try WorkspaceDirectory.resolve(dir + "/file") }
    }
}

@Suite struct WorkspaceDefaultTests {
    /// A home with a project and pen's state in it, as XDG lays them out.
    func layout() throws -> (TemporaryDirectory, WorkspaceDirectory.Guard, String) {
        let scratch = try TemporaryDirectory()
        let home = scratch.path + "/home/me"
        for dir in ["/src/app", "/.cache/pen/images", "/.local/share/pen/vms/a", "/.config/pen/profiles"] {
            try FileManager.default.createDirectory(atPath: home + dir, withIntermediateDirectories: true)
        }
        let rules = WorkspaceDirectory.Guard(home: home, penDirectories: [home + "/.config/pen/profiles",
                                                                          home + "/.cache/pen/images",
                                                                          home + "/.local/share/pen/vms"])
        return (scratch, rules, home)
    }

    func refusal(_ path: String, explicit: Bool, _ rules: WorkspaceDirectory.Guard) -> String? {
        do {
            _ = try WorkspaceDirectory.resolve(path, explicit: explicit, guard: rules)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func theDefaultIsNeverTheHomeAnAncestorOrPensState() throws {
        let (scratch, rules, home) = try layout()
        _ = scratch
        for path in [home, home + "/..", home + "/.local", home + "/.local/share/pen/vms/a"] {
            let why = try #require(refusal(path, explicit: false, rules), "\(path) was shared by default")
            #expect(why.contains("--dir") && why.split(separator: "\n").count <= 2, "\(why)")
        }
        #expect(refusal(home + "/src/app", explicit: false, rules) == nil)  // a project is fine
    }

    @Test func anExplicitDirMayBeInTheHomeButNeverInOrAbovePensState() throws {
        let (scratch, rules, home) = try layout()
        _ = scratch
        // --dir ~ with pen's state under it would share every other VM's disk: refused.
        #expect(refusal(home, explicit: true, rules)?.contains("contains pen's own state") == true)
        #expect(refusal(home + "/src", explicit: true, rules) == nil)
        // A home that does not hold pen's state (PEN_HOME elsewhere) may be named.
        let elsewhere = WorkspaceDirectory.Guard(home: home, penDirectories: [scratch.path + "/pen-home/vms"])
        #expect(refusal(home, explicit: true, elsewhere) == nil)
        #expect(refusal(home + "/.local/share/pen/vms/a", explicit: true, rules) != nil)
        #expect(refusal("/", explicit: true, rules) != nil)
    }
}

@Suite struct WorkspaceSensitiveDirectoryTests {
    @Test func theDefaultIsNeverADotDirectoryOfTheHomeNorASystemDirectory() throws {
        let scratch = try TemporaryDirectory()
        let home = scratch.path + "/home/me"
        for dir in ["/.ssh", "/.gnupg/private", "/.config/gh", "/src/.hidden-ok"] {
            try FileManager.default.createDirectory(atPath: home + dir, withIntermediateDirectories: true)
        }
        let rules = WorkspaceDirectory.Guard(home: home, penDirectories: [scratch.path + "/pen"])
        for path in [home + "/.ssh", home + "/.gnupg/private", home + "/.config/gh", "/etc", "/usr/share", "/var/lib"] {
            let why = try #require(WorkspaceDefaultTests().refusal(path, explicit: false, rules), "\(path) was shared by default")
            #expect(why.contains("--dir") && why.contains("on purpose"), "\(why)")
        }
        // A dot-directory inside a project is the project's; scratch space stays usable.
        #expect(WorkspaceDefaultTests().refusal(home + "/src/.hidden-ok", explicit: false, rules) == nil)
        #expect(WorkspaceDefaultTests().refusal("/var/tmp", explicit: false, rules) == nil)
        // A home under a system directory (/var/home on Silverblue) still holds projects.
        let varHome = WorkspaceDirectory.sensitiveDirectory(holding: "/var/home/me/src", home: "/var/home/me")
        #expect(varHome == nil)
        #expect(WorkspaceDirectory.sensitiveDirectory(holding: "/var/home/me/.ssh", home: "/var/home/me") == "/var/home/me/.ssh")
        // Named with --dir, the user meant it.
        #expect(WorkspaceDefaultTests().refusal(home + "/.ssh", explicit: true, rules) == nil)
        #expect(WorkspaceDefaultTests().refusal("/etc", explicit: true, rules) == nil)
    }
}
