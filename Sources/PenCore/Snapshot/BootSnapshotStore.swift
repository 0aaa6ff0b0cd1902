// Boot snapshots on disk: images/snapshots/KEY/{state, snapshot.json}. A snapshot is a cache:
// published by one rename once complete, its state's SHA-256 recorded and checked before use
// (like an image), and replaced whenever it cannot be used.
import Foundation

public struct BootSnapshotRecord: Codable, Equatable, Sendable {
    public static let currentFormat = 1
    public var format = currentFormat
    public var key: String
    public var inputs: SnapshotKey
    public var sha256: String
    public var bytes: UInt64
    public var saveSeconds: Double
    public var createdAt: Date

    public init(key: String, inputs: SnapshotKey, sha256: String, bytes: UInt64, saveSeconds: Double, createdAt: Date) {
        self.key = key
        self.inputs = inputs
        self.sha256 = sha256
        self.bytes = bytes
        self.saveSeconds = saveSeconds
        self.createdAt = createdAt
    }
}

public struct BootSnapshotStore: Sendable {
    public static let stateName = "state"
    public static let recordName = "snapshot.json"
    public let root: String

    public init(root: String) { self.root = root }
    public init(paths: PenPaths) { root = paths.snapshotDirectory }

    public func directory(_ key: String) -> String { root + "/" + key }
    public func statePath(_ key: String) -> String { directory(key) + "/" + Self.stateName }
    public func lockPath(_ key: String) -> String { root + "/." + key + ".lock" }

    /// The snapshot's record, if it is complete and of this pen's format.
    public func record(_ key: String) -> BootSnapshotRecord? {
        guard let data = FileManager.default.contents(atPath: directory(key) + "/" + Self.recordName),
              let record = try? PenJSON.decode(BootSnapshotRecord.self, from: data),
              record.format == BootSnapshotRecord.currentFormat, record.key == key else { return nil }
        return record
    }

    /// Every published snapshot directory's key (complete or not).
    public func keys() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { !$0.hasPrefix(".") && SafeFiles.isDirectory(root + "/" + $0) }.sorted()
    }

    public func remove(_ key: String) {
        guard SafeFiles.exists(directory(key)) else { return }
        // Out of the way first (one rename), so a reader never sees half a snapshot.
        let parked = root + "/" + ScratchDirectory.name(prefix: ".old-", rest: key)
        if rename(directory(key), parked) == 0 { try? FileManager.default.removeItem(atPath: parked) }
    }

    /// Moves a finished scratch directory (state + record) into place as KEY/.
    public func publish(_ scratch: String, key: String) throws(PenError) {
        let final = directory(key)
        try SafeFiles.refuseSymlink(final)
        if SafeFiles.exists(final) { remove(key) }
        guard rename(scratch, final) == 0 else { throw PenError.system("cannot publish the boot snapshot \(final)") }
        SafeFiles.syncDirectory(root)
    }
}
