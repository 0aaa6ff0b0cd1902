// What `pen profile ls` and `pen profile show` report about a profile and its image.
import Foundation
import PenCore

public struct ProfileSummary: Codable, Sendable {
    public var name: String
    public var path: String
    public var origin: String
    public var packages: [String]
    public var setup: Bool
    public var image: ImageStatus
    public var error: String?
}

public struct ProfileDetail: Codable, Sendable {
    public var name: String
    public var path: String
    public var description: String?
    public var packages: [String]
    public var build: String?
    public var setup: String?
    public var diskSize: UInt64?
    public var cpus: Int?
    public var memoryMiB: Int?
    /// `[vm] network`, `[network] allow` and `[build] allow`, as written (nil: not given).
    public var network: String?
    public var allow: [String]?
    public var buildAllow: [String]?
    /// The image hash; nil until the base image exists (it is one of the inputs).
    public var hash: String?
    public var image: ImageStatus
    public var imageBytes: UInt64?
    public var vms: [String]
}

public struct ProfileInspector {
    let paths: PenPaths
    let images: ProfileImages
    let baseIdentity: String?

    public init(paths: PenPaths) {
        self.paths = paths
        images = ProfileImages(paths: paths)
        baseIdentity = try? BaseImage(paths: paths).identity()
    }

    func hashAndStatus(_ profile: Profile) -> (String?, ImageStatus) {
        guard let base = baseIdentity else { return (nil, .missing) }
        let hash = ImageHash.compute(profile: profile, baseIdentity: base)
        return (hash, images.status(of: profile, hash: hash))
    }

    public func summary(_ listing: ProfileListing) -> ProfileSummary {
        switch listing.result {
        case .success(let p):
            return ProfileSummary(name: p.name, path: listing.path, origin: "\(listing.origin)", packages: p.normalizedPackages,
                                  setup: p.setup != nil, image: hashAndStatus(p).1, error: nil)
        case .failure(let e):
            return ProfileSummary(name: listing.name, path: listing.path, origin: "\(listing.origin)", packages: [],
                                  setup: false, image: .missing, error: e.description)
        }
    }

    public func detail(_ p: Profile) -> ProfileDetail {
        let (hash, status) = hashAndStatus(p)
        var bytes: UInt64?
        if status == .fresh, let hash {
            bytes = p.usesBaseImage ? BaseImage(paths: paths).loadManifest()?.root.bytes : images.record(p.name, hash: hash)?.root.bytes
        }
        let vms = VMInventory.records(paths: paths).filter { $0.profile == p.name }.map(\.name)
        return ProfileDetail(name: p.name, path: p.sourcePath, description: p.description, packages: p.normalizedPackages,
                             build: p.build, setup: p.setup, diskSize: p.diskSize, cpus: p.cpus, memoryMiB: p.memoryMiB,
                             network: p.network?.rawValue, allow: p.allow?.map(\.description),
                             buildAllow: p.buildAllow?.map(\.description),
                             hash: hash, image: status, imageBytes: bytes, vms: vms)
    }
}
