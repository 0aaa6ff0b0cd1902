// build.json: what a profile image was built from, what it is, and how long it took.
import Foundation
import PenCore

public struct ProfileImageRecord: Codable, Equatable, Sendable {
    public struct Inputs: Codable, Equatable, Sendable {
        public var packages: [String]
        public var build: String?
        public var baseIdentity: String
        public var builderVersion: Int
    }
    /// 2: the image is a read-only root image (root.erofs); 1 was an initrd.
    public static let currentFormat = 2
    public var format = currentFormat
    public var profile: String
    public var hash: String
    public var inputs: Inputs
    public var root: RootImageRecord
    public var buildSeconds: Double
    public var phaseSeconds: [String: Double]
    public var createdAt: Date

    /// The record at `path`, if it is one this pen can boot.
    static func load(_ path: String) -> ProfileImageRecord? {
        guard let data = FileManager.default.contents(atPath: path),
              let record = try? PenJSON.decode(ProfileImageRecord.self, from: data),
              record.format == currentFormat else { return nil }
        return record
    }

    func save(to path: String) throws {
        try SafeFiles.writeAtomically(Array(try PenJSON.encode(self)) + [0x0a], to: path)
    }
}
