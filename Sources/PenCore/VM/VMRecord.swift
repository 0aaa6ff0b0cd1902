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
    /// The network mode and rules `pen vm net NAME allow|deny` left (nil: never changed): a boot
    /// without --network or --allow takes them over the profile's.
    public var network: NetworkMode?
    public var allow: [NetworkRule]?
    /// What its last `pen vm start` said about idleness (seconds; suspend rather than stop): a VM
    /// that `pen exec` resumes keeps them (nil: none given, or a record from before they existed).
    public var idleTimeout: Double?
    public var suspendWhenIdle: Bool?

    /// Changes the record at `path` (read and written never through a symlink; written atomically).
    public static func change(at path: String, _ body: (inout VMRecord) -> Void) throws(PenError) {
        try SafeFiles.refuseSymlink(path)
        guard let data = FileManager.default.contents(atPath: path) else { throw PenError("cannot read \(path)") }
        var record: VMRecord
        do { record = try PenJSON.decode(VMRecord.self, from: data) } catch {
            throw PenError("\(path) is not a valid VM record (\(error))")
        }
        body(&record)
        let encoded: Data
        do { encoded = try PenJSON.encode(record) } catch { throw PenError("cannot encode the VM record: \(error)") }
        try SafeFiles.writeAtomically(Array(encoded) + [0x0a], to: path)
    }

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
