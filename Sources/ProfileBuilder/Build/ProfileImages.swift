// Profile images on disk: images/profiles/NAME/HASH/{rootfs.cpio.zst, initrd.img, build.json}.
// A directory per input hash makes publishing one rename, keeps the previous image intact
// while a new one builds (or fails), and makes "fresh" a lookup.
import Foundation
import PenCore

public enum ImageStatus: String, Sendable, Codable {
    case fresh, stale, missing
}

/// What a VM boots: a kernel and an initrd.
public struct BootImage: Sendable {
    public var kernelPath: String
    public var initrdPath: String
    public var hash: String
    /// True when the profile adds nothing to the base image.
    public var isBase: Bool
}

public struct ProfileImages: Sendable {
    public let root: String

    public init(paths: PenPaths) {
        root = paths.images + "/profiles"
    }

    public func directory(_ profile: String) -> String { root + "/" + profile }
    public func imageDirectory(_ profile: String, hash: String) -> String { directory(profile) + "/" + hash }
    public func recordPath(_ profile: String, hash: String) -> String { imageDirectory(profile, hash: hash) + "/build.json" }
    public func lastLogPath(_ profile: String) -> String { directory(profile) + "/last-build.log" }

    /// fresh: built for these inputs; stale: built for other inputs; missing: never built.
    public func status(of profile: Profile, hash: String) -> ImageStatus {
        if profile.usesBaseImage { return .fresh }
        if ProfileImageRecord.load(recordPath(profile.name, hash: hash)) != nil { return .fresh }
        return builtHashes(profile.name).isEmpty ? .missing : .stale
    }

    /// The hashes that have a complete image (build.json present).
    public func builtHashes(_ profile: String) -> [String] {
        let dir = directory(profile)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return entries.filter { !$0.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(dir)/\($0)/build.json") }.sorted()
    }

    public func record(_ profile: String, hash: String) -> ProfileImageRecord? {
        ProfileImageRecord.load(recordPath(profile, hash: hash))
    }
}
