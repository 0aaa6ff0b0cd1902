// `pen image ls`: the base image and each profile image, fresh / stale / orphan.
import Foundation
import PenCore
import Testing
@testable import ProfileBuilder

@Suite struct ImageInventoryTests {
    let root: String
    let paths: PenPaths
    var store: ProfileStore { ProfileStore(userDirectory: paths.profiles, shippedDirectories: []) }

    init() throws {
        root = NSTemporaryDirectory() + "pen-image-inventory-" + UUID().uuidString
        paths = PenPaths(environment: ["PEN_HOME": root])
        try FileManager.default.createDirectory(atPath: paths.baseImageDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: paths.profiles, withIntermediateDirectories: true)
    }

    func writeBase(builderVersion: Int = BaseImage.builderVersion) throws {
        let manifest = BaseImageManifest(
            builderVersion: builderVersion, suite: "bookworm", kernelPackage: "linux-image-x.deb",
            kernelPackageVersion: "1", kernelRelease: "6.1.0-test-amd64", kernelSHA256: "", kernelBytes: 1,
            modules: [], modulesSHA256: "", root: RootImageRecord(sha256: "r", bytes: 40 << 20, unpackedBytes: 1, entryCount: 1),
            initSHA256: "", initrdSHA256: "", initrdBytes: 9 << 20, buildSeconds: 1, createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: BaseImage(paths: paths).manifestPath))
    }

    func writeImage(_ profile: String, hash: String) throws {
        let images = ProfileImages(paths: paths)
        try FileManager.default.createDirectory(atPath: images.imageDirectory(profile, hash: hash), withIntermediateDirectories: true)
        let record = ProfileImageRecord(
            profile: profile, hash: hash,
            inputs: .init(packages: ["jq"], build: nil, baseIdentity: "b", builderVersion: ImageHash.builderVersion),
            root: RootImageRecord(sha256: "", bytes: 41 << 20, unpackedBytes: 1, entryCount: 1),
            buildSeconds: 1, phaseSeconds: [:], createdAt: Date(timeIntervalSince1970: 1_700_000_100))
        try record.save(to: images.recordPath(profile, hash: hash))
    }

    @Test func reportsFreshStaleAndOrphanImages() throws {
        try writeBase()
        try "packages = [\"jq\"]\n".write(toFile: paths.profiles + "/tools.toml", atomically: false, encoding: .utf8)
        let profile = try store.load("tools")
        let current = ImageHash.compute(profile: profile, baseIdentity: try BaseImage(paths: paths).identity())
        try writeImage("tools", hash: current)
        try writeImage("tools", hash: String(repeating: "a", count: 64))
        try writeImage("gone", hash: String(repeating: "b", count: 64))

        let rows = ImageInventory.list(paths: paths, store: store)
        #expect(rows.map(\.name) == ["base", "gone", "tools", "tools"])
        #expect(rows[0].kind == .base && rows[0].status == .fresh && rows[0].sizeBytes == 40 << 20)
        #expect(rows[0].kernel == "6.1.0-test-amd64")
        #expect(rows[1].status == .orphan)
        let tools = Dictionary(uniqueKeysWithValues: rows.filter { $0.name == "tools" }.map { ($0.hash, $0.status) })
        #expect(tools[current] == .fresh)
        #expect(tools[String(repeating: "a", count: 64)] == .stale)
    }

    @Test func anOldBaseAndItsProfileImagesAreStale() throws {
        try writeBase(builderVersion: BaseImage.builderVersion - 1)
        try "packages = [\"jq\"]\n".write(toFile: paths.profiles + "/tools.toml", atomically: false, encoding: .utf8)
        try writeImage("tools", hash: String(repeating: "c", count: 64))
        let rows = ImageInventory.list(paths: paths, store: store)
        #expect(rows.map(\.status) == [.stale, .stale])
    }

    @Test func anEmptyCacheListsNothing() {
        #expect(ImageInventory.list(paths: paths, store: store).isEmpty)
    }

    @Test func jsonHasTheDocumentedKeys() throws {
        try writeBase()
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(ImageInventory.list(paths: paths, store: store))
        let rows = try JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        let keys = Set(rows?.first?.keys.map { $0 } ?? [])
        #expect(keys.isSuperset(of: ["name", "kind", "hash", "size_bytes", "created_at", "status"]))
        #expect(rows?.first?["kind"] as? String == "base")
    }
}
