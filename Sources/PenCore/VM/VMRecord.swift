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
