// `pen image prune`: what the image cache holds that nothing will boot again — images of
// profiles that no longer exist, images built for inputs a profile no longer has, images an
// older pen wrote, what interrupted builds and replaced images left, and kernel packages the
// base image no longer names. A profile being built (its lock held) is left alone, and so is
// every image of a profile that exists but does not parse (it may be mid-edit).
import Foundation
import PenCore

public struct PrunedItem: Encodable, Equatable, Sendable {
    public var path: String
    public var reason: String
    public var bytes: UInt64
}

public struct ImagePruner {
    public let paths: PenPaths
    public let store: ProfileStore
    /// The QEMU pen would start now (`QEMU.identity`): snapshots another build made go.
    public let qemuIdentity: String?

    public init(paths: PenPaths, store: ProfileStore, qemuIdentity: String? = nil) {
        self.paths = paths
        self.store = store
        self.qemuIdentity = qemuIdentity
    }

    /// Everything prune would remove (nothing is touched).
    public func plan() -> [PrunedItem] {
        var items: [PrunedItem] = []
        func add(_ path: String, _ reason: String) {
            items.append(PrunedItem(path: path, reason: reason, bytes: DiskUsage.bytes(path)))
        }
        let base = BaseImage(paths: paths)
        let manifest = base.loadManifest()
        for entry in ScratchDirectory.abandoned(in: base.directory, prefixes: [".build-"]) {
            add(base.directory + "/" + entry, "an interrupted base image build")
        }
        if manifest != nil {
            for entry in base.leftovers() { add(base.directory + "/" + entry, "left by an older base image") }
            for entry in entries(paths.kernelDirectory) where entry != manifest?.kernelPackage && !entry.hasPrefix(".") {
                add(paths.kernelDirectory + "/" + entry, "a kernel package the base image no longer uses")
            }
        }

        let images = ProfileImages(paths: paths)
        let profiles = Dictionary(store.list().map { ($0.name, $0.result) }, uniquingKeysWith: { first, _ in first })
        let baseIdentity = manifest?.identity
        for name in images.profileNames() {
            let directory = images.directory(name)
            guard let result = profiles[name] else {
                // A build in progress holds the lock: its profile may have just been renamed back.
                if BuildLock.attempt(path: directory + "/.lock") != nil { add(directory, "its profile no longer exists") }
                continue
            }
            guard case .success(let profile) = result, let baseIdentity else { continue }
            guard let lock = BuildLock.attempt(path: directory + "/.lock") else { continue }
            defer { withExtendedLifetime(lock) {} }
            let wanted = profile.usesBaseImage ? nil : ImageHash.compute(profile: profile, baseIdentity: baseIdentity)
            for hash in images.imageHashes(name) where hash != wanted {
                let bootable = images.record(name, hash: hash) != nil
                add(images.imageDirectory(name, hash: hash),
                    bootable ? "built for inputs profile '\(name)' no longer has" : "written by an older pen")
            }
            for entry in ScratchDirectory.abandoned(in: directory, prefixes: [".build-", ProfileImageBuilder.replacedPrefix]) {
                add(directory + "/" + entry, entry.hasPrefix(".build-") ? "an interrupted build" : "a replaced image")
            }
        }
        // The root images that stay: the base's and every profile image not pruned above.
        let pruned = Set(items.map(\.path))
        var liveRoots = Set(manifest.map { [$0.root.sha256] } ?? [])
        for name in images.profileNames() {
            for hash in images.imageHashes(name) where !pruned.contains(images.imageDirectory(name, hash: hash))
                && !pruned.contains(images.directory(name)) {
                if let record = images.record(name, hash: hash) { liveRoots.insert(record.root.sha256) }
            }
        }
        snapshots(manifest, liveRoots: liveRoots, add)
        if let qemuIdentity {
            let current = ExecuteOnlyQEMU.buildName(qemuIdentity)
            for entry in entries(paths.qemuCopyDirectory) where entry != current {
                add(paths.qemuCopyDirectory + "/" + entry, "a copy of another QEMU build")
            }
        }
        return items
    }

    /// Boot snapshots of another base image or QEMU build or of an image that goes, incomplete
    /// ones, interrupted saves.
    private func snapshots(_ manifest: BaseImageManifest?, liveRoots: Set<String>, _ add: (String, String) -> Void) {
        let store = BootSnapshotStore(paths: paths)
        for entry in ScratchDirectory.abandoned(in: store.root, prefixes: [".save-", ".old-"]) {
            add(store.root + "/" + entry, "an interrupted boot snapshot save")
        }
        for key in store.keys() {
            guard BuildLock.attempt(path: store.lockPath(key)) != nil else { continue }  // being saved now
            guard let record = store.record(key) else {
                add(store.directory(key), "an incomplete boot snapshot")
                continue
            }
            if let manifest, record.inputs.kernelSHA256 != manifest.kernelSHA256 || record.inputs.initrdSHA256 != manifest.initrdSHA256 {
                add(store.directory(key), "a boot snapshot of an older base image")
            } else if let qemuIdentity, record.inputs.qemu != qemuIdentity {
                add(store.directory(key), "a boot snapshot made by another QEMU build")
            } else if manifest != nil, !liveRoots.contains(record.inputs.rootImageSHA256) {
                add(store.directory(key), "a boot snapshot of an image no profile uses")
            }
        }
    }

    /// Removes what `plan` lists; returns what was removed.
    public func prune() -> [PrunedItem] {
        plan().filter { item in
            (try? FileManager.default.removeItem(atPath: item.path)) != nil  // removes a link, never its target
        }
    }

    private func entries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }
}

/// Bytes a file or directory tree takes on disk (links are not followed).
enum DiskUsage {
    static func bytes(_ path: String) -> UInt64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        var total = UInt64(st.st_blocks) * 512
        if (st.st_mode & S_IFMT) == S_IFDIR, let children = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for child in children { total += bytes(path + "/" + child) }
        }
        return total
    }
}
