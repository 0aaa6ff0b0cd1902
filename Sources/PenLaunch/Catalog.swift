// What pen knows about on this host, for the listing commands: images, profiles and VMs.
import Foundation
import PenCore
import ProfileBuilder

public struct Catalog {
    public let paths: PenPaths
    let profiles: ProfileStore
    let settings: Settings

    public init(_ settings: Settings) {
        self.settings = settings
        paths = PenPaths(settings)
        profiles = ProfileStore.standard(paths: paths, settings: settings)
    }

    /// `pen image ls`: the base image and every profile image, fresh, stale or orphan.
    public func images() -> [ImageListing] {
        ImageInventory.list(paths: paths, store: profiles)
    }

    /// `pen image prune`: what no profile uses any more, removed (or, for a dry run, listed).
    public func pruneImages(dryRun: Bool) -> [PrunedItem] {
        let qemu = try? QEMU.locate(settings)
        let pruner = ImagePruner(paths: paths, store: profiles, qemuIdentity: qemu?.identity)
        return dryRun ? pruner.plan() : pruner.prune()
    }

    /// `pen profile ls`: every profile, with its image's state (or why it does not parse).
    public func profileSummaries() -> [ProfileSummary] {
        let inspector = ProfileInspector(paths: paths)
        return profiles.list().map { inspector.summary($0) }
    }

    /// `pen profile show NAME`.
    public func profile(_ name: String) throws(PenError) -> ProfileDetail {
        ProfileInspector(paths: paths).detail(try profiles.load(name))
    }

    /// `pen vm ls`.
    public func vms() -> [VMSummary] {
        VMListing.summaries(paths: paths)
    }
}
