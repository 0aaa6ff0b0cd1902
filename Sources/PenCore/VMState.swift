// A VM's durable record (vm.json). Live handles (QEMU's pid, sockets) never go here.
import Foundation

public struct VMRecord: Codable, Equatable, Sendable {
    public static let currentFormat = 1
    public var format: Int = VMRecord.currentFormat
    public var name: String
    public var createdAt: Date
    public var diskSize: UInt64
    public var profile: String
    /// SHA-256 of the setup script the VM was created with (nil: none).
    public var setupHash: String?
    public var cpus: Int
    public var memoryMiB: Int
    /// The host directory last shared at /workspace (nil: none yet, or a record from before it existed).
    public var directory: String?

    public init(name: String, createdAt: Date = Date(), diskSize: UInt64, profile: String = "default",
                setupHash: String? = nil, cpus: Int, memoryMiB: Int) {
        self.name = name
        self.createdAt = createdAt
        self.diskSize = diskSize
        self.profile = profile
        self.setupHash = setupHash
        self.cpus = cpus
        self.memoryMiB = memoryMiB
    }
}

/// The files of one VM's directory.
public struct VMDirectory: Sendable {
    public let name: VMName
    public let path: String
    public init(paths: PenPaths, name: VMName) {
        self.name = name
        path = paths.vmDirectory(name)
    }
    public var recordPath: String { path + "/vm.json" }
    public var lockPath: String { path + "/lock" }
    public var diskPath: String { path + "/overlay.img" }
    public var bootLogPath: String { path + "/boot.log" }
    public var qemuLogPath: String { path + "/qemu.log" }

    public var exists: Bool { SafeFiles.exists(recordPath) }

    public func load() throws(PenError) -> VMRecord {
        try SafeFiles.refuseSymlink(recordPath)
        guard let data = FileManager.default.contents(atPath: recordPath) else {
            throw PenError("cannot read \(recordPath): the VM '\(name)' is incomplete; remove \(path) to start over")
        }
        do {
            return try PenJSON.decode(VMRecord.self, from: data)
        } catch {
            throw PenError("\(recordPath) is not a valid VM record (\(error)); remove \(path) to start over")
        }
    }

    /// The record, or nil when there is no VM (also when `pen vm rm` removed it just now).
    public func loadIfPresent() throws(PenError) -> VMRecord? {
        do {
            return try load()
        } catch {
            if !SafeFiles.exists(recordPath) && !SafeFiles.exists(path) { return nil }
            throw error
        }
    }

    public func save(_ record: VMRecord) throws(PenError) {
        let data: Data
        do { data = try PenJSON.encode(record) } catch { throw PenError("cannot encode the VM record: \(error)") }
        try SafeFiles.writeAtomically(Array(data) + [0x0a], to: recordPath)
    }
}
