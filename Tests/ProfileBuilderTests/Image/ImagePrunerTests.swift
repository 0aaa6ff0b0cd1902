// `pen image prune`: removes exactly what nothing will boot again.
import Foundation
import PenCore
import Testing
@testable import ProfileBuilder

@Suite struct ImagePrunerTests {
    let root: String
    let paths: PenPaths
    var store: ProfileStore { ProfileStore(userDirectory: paths.profiles, shippedDirectories: []) }
    var images: ProfileImages { ProfileImages(paths: paths) }

    init() throws {
        root = NSTemporaryDirectory() + "pen-image-prune-" + UUID().uuidString
        paths = PenPaths(environment: ["PEN_HOME": root])
        for dir in [paths.baseImageDirectory, paths.profiles, paths.kernelDirectory] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let manifest = BaseImageManifest(
            builderVersion: BaseImage.builderVersion, suite: "bookworm", kernelPackage: "linux-new.deb",
            kernelPackageVersion: "1", kernelRelease: "6.1", kernelSHA256: "k", kernelBytes: 1, modules: [],
            modulesSHA256: "", root: RootImageRecord(sha256: "r", bytes: 1, unpackedBytes: 1, entryCount: 1),
            initSHA256: "", initrdSHA256: "", initrdBytes: 1, buildSeconds: 1, createdAt: Date())
        try PenJSON.encode(manifest).write(to: URL(fileURLWithPath: BaseImage(paths: paths).manifestPath))
        for file in ["root.erofs", "vmlinux", ".root.erofs.verified", "rootfs.cpio.zst"] {
            try write(paths.baseImageDirectory + "/" + file)
        }
        try write(paths.kernelDirectory + "/linux-new.deb")
        try write(paths.kernelDirectory + "/linux-old.deb")
    }

    func write(_ path: String, _ text: String = "x") throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    func image(_ profile: String, _ hash: String, bootable: Bool = true, rootSHA256: String = "") throws {
        let record = ProfileImageRecord(
            profile: profile, hash: hash,
            inputs: .init(packages: [], build: nil, baseIdentity: "b", builderVersion: ImageHash.builderVersion),
            root: RootImageRecord(sha256: rootSHA256, bytes: 1, unpackedBytes: 1, entryCount: 1),
            buildSeconds: 1, phaseSeconds: [:], createdAt: Date())
        try write(images.rootImagePath(profile, hash: hash))
        if bootable {
            try record.save(to: images.recordPath(profile, hash: hash))
        } else {
            try write(images.recordPath(profile, hash: hash), #"{"format": 1}"#)  // an older pen's
        }
    }

    func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func currentHash(_ name: String) throws -> String {
        ImageHash.compute(profile: try store.load(name), baseIdentity: try BaseImage(paths: paths).identity())
    }

    @Test func removesWhatNothingBootsAndKeepsWhatProfilesUse() throws {
        try write(paths.profiles + "/tools.toml", "packages = [\"jq\"]\n")
        try write(paths.profiles + "/broken.toml", "packages = [\n")
        let current = try currentHash("tools")
        try image("tools", current)
        try image("tools", String(repeating: "a", count: 64))
        try image("tools", String(repeating: "c", count: 64), bootable: false)
        try image("gone", String(repeating: "b", count: 64))
        try image("broken", String(repeating: "d", count: 64))
        let dead = try deadPid()
        try write(images.directory("tools") + "/.build-\(dead)-abc/root.tar")
        try write(images.directory("tools") + "/.build-\(getpid())-mine/root.tar")  // a build running now

        let pruner = ImagePruner(paths: paths, store: store)
        let planned = pruner.plan()
        let expected: [String: String] = [
            paths.baseImageDirectory + "/rootfs.cpio.zst": "left by an older base image",
            paths.kernelDirectory + "/linux-old.deb": "a kernel package the base image no longer uses",
            images.directory("gone"): "its profile no longer exists",
            images.imageDirectory("tools", hash: String(repeating: "a", count: 64)): "built for inputs profile 'tools' no longer has",
            images.imageDirectory("tools", hash: String(repeating: "c", count: 64)): "written by an older pen",
            images.directory("tools") + "/.build-\(dead)-abc": "an interrupted build",
        ]
        #expect(Dictionary(uniqueKeysWithValues: planned.map { ($0.path, $0.reason) }) == expected)
        #expect(planned.allSatisfy { $0.bytes > 0 })
        #expect(planned.allSatisfy { SafeFiles.exists($0.path) })  // a plan touches nothing

        #expect(pruner.prune().map(\.path).sorted() == expected.keys.sorted())
        #expect(expected.keys.allSatisfy { !SafeFiles.exists($0) })
        for kept in [images.rootImagePath("tools", hash: current), images.directory("broken") + "/" + String(repeating: "d", count: 64),
                     paths.baseImageDirectory + "/root.erofs", paths.baseImageDirectory + "/.root.erofs.verified",
                     paths.kernelDirectory + "/linux-new.deb", images.directory("tools") + "/.build-\(getpid())-mine"] {
            #expect(SafeFiles.exists(kept), "\(kept) was removed")
        }
        #expect(pruner.plan().isEmpty)
    }

    /// A published boot snapshot of the given root image (and kernel).
    func snapshot(_ key: String, root: String, kernel: String = "k") throws {
        let store = BootSnapshotStore(paths: paths)
        let inputs = SnapshotKey(kernelSHA256: kernel, initrdSHA256: "", rootImageSHA256: root, qemu: "q", hostCPU: "tcg",
                                 machine: [])
        let record = BootSnapshotRecord(key: key, inputs: inputs, sha256: "s", bytes: 1, saveSeconds: 1, createdAt: Date())
        try write(store.statePath(key))
        try PenJSON.encode(record).write(to: URL(fileURLWithPath: store.directory(key) + "/" + BootSnapshotStore.recordName))
    }

    @Test func snapshotsGoWithTheImagesTheyBoot() throws {
        try write(paths.profiles + "/tools.toml", "packages = [\"jq\"]\n")
        let current = try currentHash("tools")
        try image("tools", current, rootSHA256: "tools-root")
        try image("tools", String(repeating: "a", count: 64), rootSHA256: "stale-root")
        try snapshot("base-snap", root: "r")
        try snapshot("tools-snap", root: "tools-root")
        try snapshot("stale-snap", root: "stale-root")
        try snapshot("gone-snap", root: "no-such-root")
        try snapshot("old-kernel-snap", root: "r", kernel: "old")
        let store = BootSnapshotStore(paths: paths)
        let reasons = Dictionary(uniqueKeysWithValues: ImagePruner(paths: paths, store: self.store, qemuIdentity: "q").plan()
            .filter { $0.path.hasPrefix(store.root) }.map { ($0.path, $0.reason) })
        #expect(reasons == [store.directory("stale-snap"): "a boot snapshot of an image no profile uses",
                            store.directory("gone-snap"): "a boot snapshot of an image no profile uses",
                            store.directory("old-kernel-snap"): "a boot snapshot of an older base image"])
    }

    @Test func copiesOfOtherQEMUBuildsGoAndTheCurrentOneStays() throws {
        let current = paths.qemuCopyDirectory + "/" + ExecuteOnlyQEMU.buildName("q")
        let older = paths.qemuCopyDirectory + "/" + ExecuteOnlyQEMU.buildName("an older q")
        try write(current + "/qemu-system-x86_64")
        try write(older + "/qemu-system-x86_64")
        let reasons = Dictionary(uniqueKeysWithValues: ImagePruner(paths: paths, store: store, qemuIdentity: "q").plan()
            .filter { $0.path.hasPrefix(paths.qemuCopyDirectory) }.map { ($0.path, $0.reason) })
        #expect(reasons == [older: "a copy of another QEMU build"])
    }

    @Test func aProfileBeingBuiltIsLeftAlone() throws {
        try image("gone", String(repeating: "b", count: 64))
        let lock = try #require(BuildLock.attempt(path: images.directory("gone") + "/.lock"))
        #expect(ImagePruner(paths: paths, store: store).plan().allSatisfy { !$0.path.hasPrefix(images.directory("gone")) })
        withExtendedLifetime(lock) {}
    }
}
