// What `pen image ls` reports: the base image and every profile image in the cache, each
// fresh (what the current inputs give), stale (built from inputs that have since changed)
// or orphan (its profile no longer exists).
import Foundation
import PenCore

public enum ImageListingStatus: String, Codable, Sendable {
    case fresh, stale, orphan
}

public struct ImageListing: Encodable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case base, profile, snapshot }
    public var name: String
    public var kind: Kind
    public var hash: String
    /// The root image's size (what a VM boots besides the shared kernel and initrd).
    public var sizeBytes: UInt64
    public var createdAt: Date
    public var status: ImageListingStatus
    /// Base image only: the kernel release and the base builder version.
    @NullWhenAbsent public var kernel: String?
    public var builderVersion: Int
    /// Boot snapshots only: the machine it restores ("2 vCPUs, 2048 MiB, tcg").
    @NullWhenAbsent public var machine: String?

    enum CodingKeys: String, CodingKey {
        case name, kind, hash, status, kernel, machine
        case sizeBytes = "size_bytes", createdAt = "created_at", builderVersion = "builder_version"
    }
}

public enum ImageInventory {
    public static func list(paths: PenPaths, store: ProfileStore) -> [ImageListing] {
        var rows: [ImageListing] = []
        let base = BaseImage(paths: paths)
        let baseIdentity = try? base.identity()
        if let manifest = base.loadManifest(), let identity = baseIdentity {
            rows.append(ImageListing(name: "base", kind: .base, hash: identity, sizeBytes: manifest.root.bytes,
                                     createdAt: manifest.createdAt,
                                     status: manifest.builderVersion == BaseImage.builderVersion ? .fresh : .stale,
                                     kernel: manifest.kernelRelease, builderVersion: manifest.builderVersion, machine: nil))
        }
        let profiles = Dictionary(store.list().map { ($0.name, $0.result) }, uniquingKeysWith: { first, _ in first })
        let images = ProfileImages(paths: paths)
        for name in images.profileNames() {
            // The hash the profile's inputs give today (nil: it cannot be computed, so nothing is fresh).
            let current: String?? = profiles[name].map { result in
                guard case .success(let profile) = result, let baseIdentity else { return nil }
                return ImageHash.compute(profile: profile, baseIdentity: baseIdentity)
            }
            for hash in images.builtHashes(name) {
                guard let record = images.record(name, hash: hash) else { continue }
                let status: ImageListingStatus
                switch current {
                case .none: status = .orphan
                case .some(let wanted): status = wanted == hash ? .fresh : .stale
                }
                rows.append(ImageListing(name: name, kind: .profile, hash: hash, sizeBytes: record.root.bytes,
                                         createdAt: record.createdAt, status: status, kernel: nil,
                                         builderVersion: record.inputs.builderVersion, machine: nil))
            }
        }
        return rows + snapshots(paths: paths, base: base.loadManifest())
    }

    /// Boot snapshots: fresh when made from the current base's kernel and initrd, else stale.
    static func snapshots(paths: PenPaths, base: BaseImageManifest?) -> [ImageListing] {
        let store = BootSnapshotStore(paths: paths)
        return store.keys().compactMap { key in
            guard let record = store.record(key) else { return nil }
            let current = record.inputs.kernelSHA256 == base?.kernelSHA256 && record.inputs.initrdSHA256 == base?.initrdSHA256
            let machine = record.inputs.machine
            func value(_ flag: String) -> String? {
                machine.first { $0.hasPrefix(flag + " ") }.map { String($0.dropFirst(flag.count + 1)) }
            }
            let shape = "\(value("-smp") ?? "?") vCPUs, \(value("-m") ?? "?"), \(value("-accel") ?? "?")"
            return ImageListing(name: "snapshot", kind: .snapshot, hash: key, sizeBytes: record.bytes, createdAt: record.createdAt,
                                status: current ? .fresh : .stale, kernel: nil, builderVersion: BootSnapshotRecord.currentFormat,
                                machine: shape)
        }
    }
}
