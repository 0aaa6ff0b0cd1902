import Foundation
import PenCore
import PenTestSupport
import Testing
@testable import ProfileBuilder

/// When a profile's image is built, reused or kept, without a VM: the base image is a small
/// set of real files with a manifest recording their hashes, and the builder VM is a closure
/// that does what the VM's archive session does, writing the root as a real tar (which the
/// builder then packs into a real EROFS image).
@Suite struct ProfileImageBuilderTests {
    /// What the stand-in builder VM does on its next run.
    enum Run { case tar, fail, exit(Int32), garbage }

    final class Home: @unchecked Sendable {
        let scratch = TemporaryDirectory.fresh("pen-profile-build")
        let paths: PenPaths
        let initBinary: String
        var next: Run = .tar
        private(set) var requests: [BuilderVMRequest] = []
        private(set) var said: [String] = []

        init() throws {
            paths = PenPaths(environment: ["PEN_HOME": scratch.path + "/home", "PEN_IMAGES": scratch.path + "/images"])
            initBinary = try scratch.write("PenGuestInit", "init")
            try Self.makeBase(BaseImage(paths: paths), initBinary: initBinary)
            try scratch.write("tree/etc/profile-marker", "built\n")
            try scratch.write("tree/usr/bin/tool", "#!/bin/sh\n")
        }

        /// A base image as BaseImage.ensure finds a current one: its files and their recorded hashes.
        static func makeBase(_ base: BaseImage, initBinary: String) throws {
            try FileManager.default.createDirectory(atPath: base.directory, withIntermediateDirectories: true)
            for (path, text) in [(base.kernelPath, "kernel"), (base.initrdPath, "initrd"), (base.rootImagePath, "root"),
                                 (base.modulesPath, "modules")] {
                try text.write(toFile: path, atomically: false, encoding: .utf8)
            }
            let manifest = BaseImageManifest(
                builderVersion: BaseImage.builderVersion, suite: BaseImage.suite, kernelPackage: "linux-image.deb",
                kernelPackageVersion: "1", kernelRelease: "6.1.0", kernelSHA256: try SHA256File.hex(path: base.kernelPath),
                kernelBytes: 6, modules: [], modulesSHA256: try SHA256File.hex(path: base.modulesPath),
                root: RootImageRecord(sha256: try SHA256File.hex(path: base.rootImagePath), bytes: 4, unpackedBytes: 4, entryCount: 1),
                initSHA256: try SHA256File.hex(path: initBinary), initrdSHA256: try SHA256File.hex(path: base.initrdPath),
                initrdBytes: 6, buildSeconds: 1, createdAt: Date(timeIntervalSince1970: 1_700_000_000))
            try FileManager.default.createDirectory(atPath: base.directory, withIntermediateDirectories: true)
            try PenJSON.encode(manifest).write(to: URL(fileURLWithPath: base.manifestPath))
        }

        var builder: ProfileImageBuilder {
            ProfileImageBuilder(paths: paths, initBinary: initBinary, buildTimeout: 60, builderVM: { [self] request throws(PenError) in
                requests.append(request)
                request.output(Array("Reading package lists...\n".utf8))
                switch next {
                case .fail: throw PenError("the builder VM did not boot")
                case .exit(let status): return SessionOutcome(exitStatus: status)
                case .garbage:
                    try? "not a tar".write(toFile: request.archivePath, atomically: false, encoding: .utf8)
                case .tar:
                    guard (try? runProgram("tar", ["-C", scratch.file("tree"), "-cf", request.archivePath, "--numeric-owner",
                                                   "--owner=0", "--group=0", "."]))?.status == 0 else {
                        throw PenError("tar failed")
                    }
                }
                return SessionOutcome(exitStatus: 0)
            }, say: { [self] in said.append($0) })
        }

        var images: ProfileImages { ProfileImages(paths: paths) }

        /// Everything in the profile's directory but its lock and last log: published images and leftovers.
        func entries(_ profile: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: images.directory(profile))) ?? [])
                .filter { $0 != ".lock" && $0 != "last-build.log" }.sorted()
        }

        func rootImageSHA(_ image: BootImage) throws -> String { try SHA256File.hex(path: image.rootImagePath) }
    }

    let home = try! Home()

    static func profile(_ packages: [String] = ["curl"]) -> Profile {
        Profile(name: "web", sourcePath: "/profiles/web.toml", packages: packages)
    }


    @Test func aProfileThatAddsNothingBootsTheBaseImageWithoutABuild() throws {
        let image = try home.builder.ensure(Profile(name: "plain", sourcePath: "/profiles/plain.toml"))
        #expect(image.isBase)
        #expect(image.rootImagePath == BaseImage(paths: home.paths).rootImagePath)
        #expect(home.requests.isEmpty)
    }

    @Test func aMissingImageIsBuiltThroughTheBuilderVMAndPublished() throws {
        let image = try home.builder.ensure(Self.profile())
        #expect(home.requests.count == 1)
        #expect(home.said.contains("pen: profile 'web' has no image yet; building it"))
        let request = try #require(home.requests.first)
        #expect(request.rootImagePath == BaseImage(paths: home.paths).rootImagePath)
        #expect(request.script.contains("curl"))
        #expect(!image.isBase)
        #expect(image.rootImagePath == home.images.rootImagePath("web", hash: image.hash))
        let record = try #require(home.images.record("web", hash: image.hash))
        #expect(record.root.sha256 == (try home.rootImageSHA(image)))
        #expect(record.root.entryCount >= 5)  // ., etc, etc/profile-marker, usr, usr/bin, usr/bin/tool
        #expect(home.entries("web") == [image.hash])  // no work directory left behind
    }

    @Test func aBuildAllowReachesTheBuilderWithAptsMirrors() throws {
        var narrowed = Self.profile()
        narrowed.buildAllow = [try NetworkRule("registry.npmjs.org")]
        home.next = .tar
        let image = try home.builder.ensure(narrowed)
        let request = try #require(home.requests.first)
        #expect(request.allow?.map(\.description) == ["registry.npmjs.org", "deb.debian.org:80", "security.debian.org:80"])
        #expect(home.entries("web") == [image.hash])
        // No rules: the builder runs `public` (nil).
        _ = try home.builder.ensure(Self.profile(["git"]))
        #expect(home.requests.last?.allow == nil)
    }

    @Test func aFreshImageIsReusedWithoutABuild() throws {
        let first = try home.builder.ensure(Self.profile())
        let again = try home.builder.ensure(Self.profile())
        #expect(home.requests.count == 1)
        #expect(again.rootImagePath == first.rootImagePath)
        #expect(again.rootImageSHA256 == first.rootImageSHA256)
    }

    @Test func aStaleImageIsRebuiltAndReplaced() throws {
        let old = try home.builder.ensure(Self.profile())
        let new = try home.builder.ensure(Self.profile(["curl", "git"]))
        #expect(home.requests.count == 2)
        #expect(new.hash != old.hash)
        #expect(home.said.contains("pen: profile 'web' changed since its image was built; rebuilding it"))
        #expect(home.entries("web") == [new.hash])  // the image for the old inputs is gone once the new one is in place
    }

    /// The VM fails, the build script fails, or what the VM streamed back is not a tar.
    @Test(arguments: [(Run.fail, "profile 'web' build failed"), (.exit(100), "profile 'web' build failed"),
                      (.garbage, "cannot open root filesystem archive")])
    func aFailedBuildPublishesNothingAndKeepsTheOldImage(_ failure: Run, _ message: String) throws {
        let old = try home.builder.ensure(Self.profile())
        let oldSHA = try home.rootImageSHA(old)
        home.next = failure
        #expect(thrownMessage { _ = try home.builder.ensure(Self.profile(["curl", "git"])) }.contains(message))
        #expect(home.entries("web") == [old.hash])  // no partial image, no work directory
        #expect(home.images.record("web", hash: old.hash) != nil)
        #expect(try home.rootImageSHA(old) == oldSHA)
        #expect(FileManager.default.fileExists(atPath: home.images.lastLogPath("web")))
    }

    @Test func forceRebuildsAFreshImageInPlace() throws {
        let old = try home.builder.ensure(Self.profile())
        let rebuilt = try home.builder.ensure(Self.profile(), force: true)
        #expect(home.requests.count == 2)
        #expect(rebuilt.hash == old.hash)
        #expect(home.entries("web") == [old.hash])  // the replaced copy (.old-*) is removed
        #expect(home.images.record("web", hash: old.hash) != nil)
    }

    @Test func aForcedBuildThatFailsKeepsTheFreshImage() throws {
        let old = try home.builder.ensure(Self.profile())
        let oldSHA = try home.rootImageSHA(old)
        home.next = .exit(1)
        #expect(thrownMessage { _ = try home.builder.ensure(Self.profile(), force: true) }.contains("profile 'web' build failed"))
        #expect(home.entries("web") == [old.hash])
        #expect(try home.rootImageSHA(old) == oldSHA)
        home.next = .tar
        #expect(try home.builder.ensure(Self.profile()).rootImagePath == old.rootImagePath)
        #expect(home.requests.count == 2)  // still fresh: not built again
    }
}
