// Profile images on disk: images/profiles/NAME/HASH/{root.erofs, build.json}.
// A directory per input hash makes publishing one rename, keeps the previous image intact
// while a new one builds (or fails), and makes "fresh" a lookup.
import Foundation
import PenCore

public enum ImageStatus: String, Sendable, Codable {
    case fresh, stale, missing
}

/// What a VM boots: the base kernel and initrd, and the profile's read-only root image.
public struct BootImage: Sendable {
    public var kernelPath: String
    public var initrdPath: String
    public var rootImagePath: String
    /// The kernel's and initrd's SHA-256 as the base manifest recorded them (a boot snapshot's key).
    public var kernelSHA256: String
    public var initrdSHA256: String
    public var rootImageSHA256: String
    public var hash: String
    /// True when the profile adds nothing to the base image.
    public var isBase: Bool
}

public struct ProfileImages: Sendable {
    public static let rootImageName = "root.erofs"
    public static let recordName = "build.json"
    public let root: String

    public init(paths: PenPaths) {
        root = paths.images + "/profiles"
    }

    public func directory(_ profile: String) -> String { root + "/" + profile }
    public func imageDirectory(_ profile: String, hash: String) -> String { directory(profile) + "/" + hash }
    public func recordPath(_ profile: String, hash: String) -> String { imageDirectory(profile, hash: hash) + "/" + Self.recordName }
    public func rootImagePath(_ profile: String, hash: String) -> String { imageDirectory(profile, hash: hash) + "/" + Self.rootImageName }
    public func lastLogPath(_ profile: String) -> String { directory(profile) + "/last-build.log" }

    /// fresh: built for these inputs; stale: built for other inputs; missing: never built.
    public func status(of profile: Profile, hash: String) -> ImageStatus {
        if profile.usesBaseImage { return .fresh }
        if record(profile.name, hash: hash) != nil { return .fresh }
        return builtHashes(profile.name).isEmpty ? .missing : .stale
    }

    /// The hashes that have a complete image this pen can boot.
    public func builtHashes(_ profile: String) -> [String] {
        imageHashes(profile).filter { record(profile, hash: $0) != nil }
    }

    /// Every published image directory of the profile, bootable or left by an older pen.
    public func imageHashes(_ profile: String) -> [String] {
        let dir = directory(profile)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return entries.filter { !$0.hasPrefix(".") && SafeFiles.isDirectory("\(dir)/\($0)") }.sorted()
    }

    /// The profiles that have an image directory.
    public func profileNames() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { !$0.hasPrefix(".") && SafeFiles.isDirectory(root + "/" + $0) }.sorted()
    }

    public func record(_ profile: String, hash: String) -> ProfileImageRecord? {
        ProfileImageRecord.load(recordPath(profile, hash: hash))
    }
}
