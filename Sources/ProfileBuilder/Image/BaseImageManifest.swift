// manifest.json: what the base image is made of and the SHA-256 of each of its files.
import Foundation
import PenCore

public struct BaseImageManifest: Codable, Equatable, Sendable {
    public var builderVersion: Int
    public var suite: String
    public var kernelPackage: String
    public var kernelPackageVersion: String
    public var kernelRelease: String
    public var kernelSHA256: String
    public var kernelBytes: UInt64
    /// The modules the init loads, in load order; they travel in the initrd.
    public var modules: [String]
    public var modulesSHA256: String
    /// The Debian root as a read-only image.
    public var root: RootImageRecord
    public var initSHA256: String
    /// The initrd: the modules' archive, then the init's.
    public var initrdSHA256: String
    public var initrdBytes: UInt64
    public var buildSeconds: Double
    public var createdAt: Date

    /// Hex SHA-256 of what profile images are built on: the builder version, the suite, the
    /// root image and the kernel.
    public var identity: String {
        SHA256File.hex(bytes: Array("pen-base v\(builderVersion) \(suite) root \(root.sha256) kernel \(kernelSHA256)\n".utf8))
    }
}

/// A root image as recorded when it was written: what verification checks, what listings show.
public struct RootImageRecord: Codable, Equatable, Sendable {
    public var sha256: String
    public var bytes: UInt64
    /// The sum of the regular files' sizes, and how many entries the root has.
    public var unpackedBytes: UInt64
    public var entryCount: Int

    public init(sha256: String, bytes: UInt64, unpackedBytes: UInt64, entryCount: Int) {
        self.sha256 = sha256
        self.bytes = bytes
        self.unpackedBytes = unpackedBytes
        self.entryCount = entryCount
    }

    public init(_ result: RootImageResult) {
        self.init(sha256: result.sha256, bytes: result.bytes, unpackedBytes: result.unpackedBytes, entryCount: result.entryCount)
    }
}
