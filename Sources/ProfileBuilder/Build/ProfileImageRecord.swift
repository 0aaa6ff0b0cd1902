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
    public var format = 1
    public var profile: String
    public var hash: String
    public var inputs: Inputs
    public var rootfsSHA256: String
    public var rootfsBytes: UInt64
    public var unpackedBytes: UInt64
    public var entryCount: Int
    public var initSHA256: String
    public var initrdSHA256: String
    public var initrdBytes: UInt64
    public var buildSeconds: Double
    public var phaseSeconds: [String: Double]
    public var createdAt: Date

    static func load(_ path: String) -> ProfileImageRecord? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? PenJSON.decode(ProfileImageRecord.self, from: data)
    }

    func save(to path: String) throws {
        try SafeFiles.writeAtomically(Array(try PenJSON.encode(self)) + [0x0a], to: path)
    }
}
