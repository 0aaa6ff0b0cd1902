// Finding profiles: the user's directory wins, misses say where pen looked, and listing
// survives broken files.
import Foundation
import PenCore
import Testing
@testable import ProfileBuilder

/// A user directory and a shipped directory in a fresh temporary directory.
private final class StoreFixture {
    let root: String
    let user: String
    let shipped: String
    var store: ProfileStore { ProfileStore(userDirectory: user, shippedDirectories: [shipped]) }

    init() throws {
        root = NSTemporaryDirectory() + "/pen-profile-store-" + UUID().uuidString
        user = root + "/user"
        shipped = root + "/share/pen/profiles"
        try FileManager.default.createDirectory(atPath: user, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: shipped, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ text: String, to dir: String, _ file: String) throws {
        try text.write(toFile: dir + "/" + file, atomically: false, encoding: .utf8)
    }
}

private func penMessage(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch let error as PenError { return error.message } catch { return "not a PenError: \(error)" }
}

extension ProfileTests {
    @Suite struct Store {
        @Test func prefersTheUsersProfileOverTheShippedOne() throws {
            let f = try StoreFixture()
            try f.write("description = \"mine\"", to: f.user, "dev.toml")
            try f.write("description = \"shipped\"", to: f.shipped, "dev.toml")
            let profile = try f.store.load("dev")
            #expect(profile.description == "mine")
            #expect(profile.name == "dev")
            #expect(profile.sourcePath == f.user + "/dev.toml")
        }

        @Test func fallsBackToShippedProfiles() throws {
            let f = try StoreFixture()
            try f.write("packages = [\"jq\"]", to: f.shipped, "tools.toml")
            let profile = try f.store.load("tools")
            #expect(profile.packages == ["jq"])
            #expect(profile.sourcePath == f.shipped + "/tools.toml")
        }

        @Test func laterShippedDirectoriesAreSearchedToo() throws {
            let f = try StoreFixture()
            let second = f.root + "/second"
            try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
            try f.write("description = \"second\"", to: second, "x1.toml")
            let store = ProfileStore(userDirectory: f.user, shippedDirectories: [f.shipped, second])
            #expect(try store.load("x1").description == "second")
        }

        @Test func notFoundNamesTheProfileBothDirectoriesAndTheFix() throws {
            let f = try StoreFixture()
            let message = penMessage { _ = try f.store.load("web") }
            #expect(message == "profile 'web' not found: looked for web.toml in \(f.user) and \(f.shipped); "
                + "create \(f.user)/web.toml or see `pen profile ls`")
        }

        @Test func missingDirectoriesAreJustEmpty() throws {
            let store = ProfileStore(userDirectory: "/nonexistent-pen-a", shippedDirectories: ["/nonexistent-pen-b"])
            #expect(penMessage { _ = try store.load("dev") }?.contains("not found") == true)
            #expect(store.list().isEmpty)
        }

        @Test(arguments: ["", "../etc/passwd", "a/b", "-rf", ".hidden", "web profile", "dev.toml/x", String(repeating: "p", count: 64)])
        func rejectsBadNamesBeforeLooking(_ name: String) throws {
            let f = try StoreFixture()
            let message = penMessage { _ = try f.store.load(name) }
            #expect(message?.hasPrefix("invalid profile name") == true, "\(message ?? "accepted")")
        }

        @Test func aBrokenProfileFailsWithItsPathAndKey() throws {
            let f = try StoreFixture()
            try f.write("[vm]\ncpus = 99", to: f.user, "big.toml")
            let message = penMessage { _ = try f.store.load("big") }
            #expect(message?.hasPrefix("profile \(f.user)/big.toml: key 'vm.cpus': ") == true, "\(message ?? "accepted")")
        }

        @Test func readsThroughASymlinkedProfile() throws {
            let f = try StoreFixture()
            try f.write("description = \"from dotfiles\"", to: f.root, "dotfile.toml")
            try FileManager.default.createSymbolicLink(atPath: f.user + "/linked.toml", withDestinationPath: f.root + "/dotfile.toml")
            #expect(try f.store.load("linked").description == "from dotfiles")
        }

        @Test func aDanglingUserSymlinkIsReportedNotSkipped() throws {
            let f = try StoreFixture()
            try f.write("description = \"shipped\"", to: f.shipped, "dev.toml")
            try FileManager.default.createSymbolicLink(atPath: f.user + "/dev.toml", withDestinationPath: f.root + "/gone.toml")
            let message = penMessage { _ = try f.store.load("dev") }
            #expect(message?.contains("\(f.user)/dev.toml: cannot read") == true, "\(message ?? "accepted")")
        }

        @Test func refusesDirectoriesFifosHugeFilesAndBadUTF8() throws {
            let f = try StoreFixture()
            try FileManager.default.createDirectory(atPath: f.user + "/dir.toml", withIntermediateDirectories: false)
            #expect(penMessage { _ = try f.store.load("dir") }?.hasSuffix("not a regular file") == true)
            // A FIFO must not make pen wait for a writer.
            #expect(mkfifo(f.user + "/fifo.toml", 0o600) == 0)
            #expect(penMessage { _ = try f.store.load("fifo") }?.hasSuffix("not a regular file") == true)
            let huge = "# " + String(repeating: "x", count: ProfileStore.maximumFileBytes) + "\n"
            try f.write(huge, to: f.user, "huge.toml")
            #expect(penMessage { _ = try f.store.load("huge") }?.contains("more than a profile can be") == true)
            try Data([0x23, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: f.user + "/latin.toml"))
            #expect(penMessage { _ = try f.store.load("latin") }?.contains("not valid UTF-8") == true)
        }

        @Test func listShowsEveryNameOnceWithBrokenOnesAndTheirErrors() throws {
            let f = try StoreFixture()
            try f.write("description = \"mine\"", to: f.user, "dev.toml")
            try f.write("description = \"shipped\"", to: f.shipped, "dev.toml")
            try f.write("packages = \"jq\"", to: f.user, "broken.toml")
            try f.write("", to: f.shipped, "default.toml")
            try f.write("x = ", to: f.shipped, "syntax.toml")
            try f.write("", to: f.user, "Bad Name.toml")
            try f.write("", to: f.user, ".hidden.toml")
            try f.write("", to: f.user, "notes.txt")
            try f.write("", to: f.user, "backup.toml~")

            let listing = f.store.list()
            #expect(listing.map(\.name) == ["Bad Name", "broken", "default", "dev", "syntax"])
            let byName = Dictionary(uniqueKeysWithValues: listing.map { ($0.name, $0) })

            let dev = try #require(byName["dev"])
            #expect(dev.origin == .user && dev.path == f.user + "/dev.toml")
            #expect((try? dev.result.get())?.description == "mine")

            #expect(byName["default"]?.origin == .shipped)
            #expect((try? byName["default"]?.result.get())?.usesBaseImage == true)

            guard case .failure(let broken)? = byName["broken"]?.result else { Issue.record("broken parsed"); return }
            #expect(broken.key == "packages" && broken.file == f.user + "/broken.toml")

            guard case .failure(let syntax)? = byName["syntax"]?.result else { Issue.record("syntax parsed"); return }
            #expect(syntax.description.contains("line 1"))

            guard case .failure(let badName)? = byName["Bad Name"]?.result else { Issue.record("bad name parsed"); return }
            #expect(badName.description.contains("invalid profile name"))
            #expect(badName.description.contains("rename the file"))
        }

        @Test func standardUsesPenProfilesDirOrTheInstallPrefix() throws {
            let paths = PenPaths(environment: ["PEN_HOME": "/tmp/pen-home-test"])
            let explicit = ProfileStore.standard(paths: paths, settings: try Settings(environment: ["PEN_PROFILES_DIR": "/opt/pen-profiles"]))
            #expect(explicit.userDirectory == "/tmp/pen-home-test/profiles")
            #expect(explicit.shippedDirectories == ["/opt/pen-profiles"])

            let relative = ProfileStore.standard(paths: paths, settings: try Settings(environment: ["PEN_PROFILES_DIR": "rel/profiles"]))
            #expect(relative.shippedDirectories == [FileManager.default.currentDirectoryPath + "/rel/profiles"])

            let installed = ProfileStore.standard(paths: paths, settings: try Settings(environment: ["PEN_PROFILES_DIR": ""]))
            #expect(installed.shippedDirectories.count == 1)
            #expect(installed.shippedDirectories[0].hasSuffix("/share/pen/profiles"))
            #expect(installed.shippedDirectories[0].hasPrefix("/"))
        }
    }
}
