// What `pen vm ls` reports about each VM: its record, whether it runs, and its disk's real use.
import Foundation

public struct VMSummary: Encodable, Equatable, Sendable {
    public var name: String
    public var profile: String
    /// "running", "suspended" or "stopped".
    public var status: String
    public var cpus: Int
    public var memoryMiB: Int
    /// Data on the disk per its ext4 superblock, without the filesystem's own overhead
    /// (what `df` in the guest calls Used); nil when the disk cannot be read.
    @NullWhenAbsent public var diskUsedBytes: UInt64?
    public var diskSizeBytes: UInt64
    @NullWhenAbsent public var directory: String?
    public var createdAt: Date
    /// A running VM's sessions, seconds since it booted, and whether `pen vm start` started it
    /// (null when it is stopped, or its supervisor did not answer).
    @NullWhenAbsent public var sessions: Int?
    @NullWhenAbsent public var uptimeSeconds: Int?
    @NullWhenAbsent public var detached: Bool?
    /// How a running VM started: "cold", "restored" (from its boot snapshot), "cold, snapshot saved".
    @NullWhenAbsent public var boot: String?
    /// A suspended VM: when, and the size of its saved machine.
    @NullWhenAbsent public var suspendedAt: Date?
    @NullWhenAbsent public var suspendedBytes: UInt64?
    /// Its checkpoints: how many, and the bytes they hold on the host.
    public var checkpoints: Int = 0
    public var checkpointBytes: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case name, profile, status, cpus, directory, sessions, detached, boot
        case suspendedAt = "suspended_at", suspendedBytes = "suspended_bytes"
        case checkpoints, checkpointBytes = "checkpoint_bytes"
        case memoryMiB = "memory_mib", diskUsedBytes = "disk_used_bytes", diskSizeBytes = "disk_size_bytes"
        case createdAt = "created_at", uptimeSeconds = "uptime_seconds"
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
        let running = VMLock.isHeld(path: vm.lockPath)
        // A running VM's supervisor says how it runs (a booting one is not waited for).
        let live = running ? (try? SupervisorConnection.connect(vm, wait: 0, acceptStopping: true)).flatMap { $0 } : nil
        defer { live?.close() }
        let suspended = running ? nil : SuspendStore(vmPath: vm.path).record()
        var summary = VMSummary(name: vm.name.value, profile: record.profile,
                         status: running ? "running" : suspended != nil ? "suspended" : "stopped",
                         cpus: live?.status.facts.cpus ?? record.cpus, memoryMiB: live?.status.facts.memoryMiB ?? record.memoryMiB,
                         diskUsedBytes: usage?.data, diskSizeBytes: usage?.total ?? record.diskSize,
                         directory: record.directory, createdAt: record.createdAt, sessions: live?.status.sessions,
                         uptimeSeconds: live.map { Int(Date().timeIntervalSince($0.status.startedAt)) },
                         detached: live?.status.detached, boot: live?.status.boot,
                         suspendedAt: suspended?.createdAt, suspendedBytes: suspended?.bytes)
        let checkpoints = VMCheckpoints(vm).list()
        summary.checkpoints = checkpoints.count
        summary.checkpointBytes = checkpoints.reduce(0) { $0 + $1.bytes }
        return summary
    }
}
