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
    public var modules: [String]
    public var rootfsSHA256: String
    public var rootfsBytes: UInt64
    public var unpackedBytes: UInt64
    public var entryCount: Int
    public var initSHA256: String
    public var initrdSHA256: String
    public var initrdBytes: UInt64
    public var buildSeconds: Double
    public var createdAt: Date
}
