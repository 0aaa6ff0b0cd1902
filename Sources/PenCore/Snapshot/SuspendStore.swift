// A suspended VM's machine on disk: vms/NAME/suspended/{state, suspend.json}, beside the disk it
// belongs to. Published by one rename once complete (a half-saved state never looks like one),
// its SHA-256 checked before it is loaded, and removed the moment a QEMU has loaded it: the disk
// moves on from then, and the same memory must never run on it twice.
import Foundation

public struct SuspendRecord: Codable, Equatable, Sendable {
    public static let currentFormat = 1
    public var format = currentFormat
    /// The machine it fits (SnapshotKey's hash: images, QEMU, shape); anything else boots cold.
    public var key: String
    public var sha256: String
    public var bytes: UInt64
    public var saveSeconds: Double
    public var createdAt: Date

    public init(key: String, sha256: String, bytes: UInt64, saveSeconds: Double, createdAt: Date) {
        self.key = key
        self.sha256 = sha256
        self.bytes = bytes
        self.saveSeconds = saveSeconds
        self.createdAt = createdAt
    }
}

public struct SuspendStore: Sendable {
    public static let directoryName = "suspended"
    public static let stateName = "state"
    public static let recordName = "suspend.json"
    /// The VM's directory.
    public let vmPath: String

    public init(vmPath: String) { self.vmPath = vmPath }

    public var directory: String { vmPath + "/" + Self.directoryName }
    public var statePath: String { directory + "/" + Self.stateName }

    /// The record of a complete suspend of this pen's format, if there is one.
    public func record() -> SuspendRecord? {
        guard let data = Self.readSmall(directory + "/" + Self.recordName, limit: 1 << 16),
              let record = try? PenJSON.decode(SuspendRecord.self, from: Data(data)),
              record.format == SuspendRecord.currentFormat else { return nil }
        return record
    }

    /// Something is there (complete or not): `vm ls` and `vm rm` count it.
    public var exists: Bool { SafeFiles.exists(directory) }

    /// Removes it; true when it is gone (a resume lets the machine run only then).
    @discardableResult
    public func remove() -> Bool {
        guard SafeFiles.exists(directory) else { return true }
        let parked = vmPath + "/" + ScratchDirectory.name(prefix: ".old-suspended-", rest: String(UInt64.random(in: 0...UInt64.max), radix: 16))
        if rename(directory, parked) == 0 {
            try? FileManager.default.removeItem(atPath: parked)
        } else {
            unlink(statePath)  // at the least, the state can never be loaded again
            try? FileManager.default.removeItem(atPath: directory)
        }
        SafeFiles.syncDirectory(vmPath)
        return !SafeFiles.exists(statePath)
    }

    /// A small file, opened without following a link, at most `limit` bytes (nil otherwise).
    static func readSmall(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out += chunk[0..<n]
            if out.count > limit { return nil }
        }
        return out
    }

    /// Moves a finished scratch directory (state + record) into place.
    public func publish(_ scratch: String) throws(PenError) {
        try SafeFiles.refuseSymlink(directory)
        remove()
        guard rename(scratch, directory) == 0 else { throw PenError.system("cannot publish the suspended state \(directory)") }
        SafeFiles.syncDirectory(vmPath)
    }
}
