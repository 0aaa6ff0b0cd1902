// What `pen vm ls` reports about each VM: its record, whether it runs, and its disk's real use.
import Foundation

public struct VMSummary: Encodable, Equatable, Sendable {
    public var name: String
    public var profile: String
    /// "running" or "stopped".
    public var status: String
    public var cpus: Int
    public var memoryMiB: Int
    /// Data on the disk per its ext4 superblock, without the filesystem's own overhead
    /// (what `df` in the guest calls Used); nil when the disk cannot be read.
    @NullWhenAbsent public var diskUsedBytes: UInt64?
    public var diskSizeBytes: UInt64
    @NullWhenAbsent public var directory: String?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case name, profile, status, cpus, directory
        case memoryMiB = "memory_mib", diskUsedBytes = "disk_used_bytes", diskSizeBytes = "disk_size_bytes"
        case createdAt = "created_at"
    }
}

public enum VMListing {
    public static func summaries(paths: PenPaths) -> [VMSummary] {
        VMInventory.records(paths: paths).compactMap { record in
            guard let name = try? VMName(record.name) else { return nil }
            return summary(of: VMDirectory(paths: paths, name: name), record: record)
        }
    }

    public static func summary(of vm: VMDirectory, record: VMRecord) -> VMSummary {
        let usage = try? OverlayDisk.measure(vm.diskPath)
        return VMSummary(name: vm.name.value, profile: record.profile,
                         status: VMLock.isHeld(path: vm.lockPath) ? "running" : "stopped",
                         cpus: record.cpus, memoryMiB: record.memoryMiB, diskUsedBytes: usage?.data,
                         diskSizeBytes: usage?.total ?? record.diskSize, directory: record.directory,
                         createdAt: record.createdAt)
    }
}
