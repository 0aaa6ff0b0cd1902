// Checkpoints of a stopped or suspended VM: vms/NAME/checkpoints/LABEL/ holds a copy of its disk
// (a reflink, or the extents it wrote: DiskCopy) and, when the VM was suspended, of its saved
// machine too, so a rollback brings back its processes as well. Each is made in a scratch
// directory and published by one rename; a rollback copies the checkpoint back (it stays, to roll
// back to again). A running VM's checkpoint is not built yet: suspend it first.
import Foundation
import Glibc

public struct CheckpointRecord: Codable, Equatable, Sendable {
    public var label: String
    public var createdAt: Date
    /// Bytes the checkpoint holds on the host (its files' allocated blocks).
    public var bytes: UInt64
    /// The VM was suspended: its saved machine is in the checkpoint (a rollback resumes it).
    public var withMemory: Bool

    enum CodingKeys: String, CodingKey {
        case label, bytes
        case createdAt = "created_at", withMemory = "with_memory"
    }
}

public struct VMCheckpoints {
    public static let directoryName = "checkpoints"
    static let recordName = "checkpoint.json"
    static let diskName = "overlay.img"
    let vm: VMDirectory

    public init(_ vm: VMDirectory) { self.vm = vm }

    var root: String { vm.path + "/" + Self.directoryName }
    func directory(_ label: String) -> String { root + "/" + label }

    /// Every complete checkpoint, oldest first.
    public func list() -> [CheckpointRecord] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { !$0.hasPrefix(".") }.compactMap { label in
            guard let data = SuspendStore.readSmall(directory(label) + "/" + Self.recordName, limit: 1 << 16) else { return nil }
            return try? PenJSON.decode(CheckpointRecord.self, from: Data(data))
        }.sorted { $0.createdAt < $1.createdAt }
    }

    /// Checks a label as typed (VM name rules); nil gives a time-stamped one.
    public static func label(_ text: String?, now: Date = Date()) throws(PenError) -> String {
        guard let text else {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "'cp-'yyyyMMdd-HHmmss"
            return formatter.string(from: now)
        }
        return try VMName(text, kind: "checkpoint label").value
    }

    /// A checkpoint of the stopped (or suspended) VM under `label`.
    public func make(_ label: String) throws(PenError) -> CheckpointRecord {
        let lock = try stoppedLock("checkpointed")
        defer { withExtendedLifetime(lock) {} }
        try SafeFiles.refuseSymlink(root)
        if !SafeFiles.isDirectory(root) {
            guard mkdir(root, 0o700) == 0 || errno == EEXIST else { throw PenError.system("cannot create \(root)") }
        }
        guard !SafeFiles.exists(directory(label)) else {
            throw PenError("VM '\(vm.name)' has a checkpoint '\(label)' already",
                           fix: "choose another label, or remove it with `pen vm checkpoint \(vm.name) --rm \(label)`")
        }
        ScratchDirectory.sweep(in: root, prefixes: [".new-"])
        let scratch = try ScratchDirectory(in: root, prefix: ".new-")
        do throws(PenError) {
            var bytes = try DiskCopy.copyFile(vm.diskPath, to: scratch.path + "/" + VMCheckpoints.diskName, what: "the checkpoint's disk").allocated
            let suspended = SuspendStore(vmPath: vm.path)
            let withMemory = suspended.record() != nil
            if withMemory {
                try SafeFiles.makeNewDirectory(scratch.path + "/" + SuspendStore.directoryName)
                for name in [SuspendStore.stateName, SuspendStore.recordName] {
                    bytes += try DiskCopy.copyFile(suspended.directory + "/" + name,
                                                   to: scratch.path + "/" + SuspendStore.directoryName + "/" + name,
                                                   what: "the checkpoint's memory").allocated
                }
            }
            let record = CheckpointRecord(label: label, createdAt: Date(), bytes: bytes, withMemory: withMemory)
            try SafeFiles.writeAtomically(Array(try converting { try PenJSON.encode(record) }) + [0x0a],
                                          to: scratch.path + "/" + Self.recordName, mode: 0o600)
            guard rename(scratch.path, directory(label)) == 0 else { throw PenError.system("cannot publish the checkpoint \(label)") }
            SafeFiles.syncDirectory(root)
            return record
        } catch {
            scratch.remove()
            throw error
        }
    }

    /// The stopped VM goes back to `label`: its disk (and its saved machine, if the checkpoint has
    /// one; else a saved machine it has now is dropped, since it belongs to the disk being replaced).
    public func rollback(to label: String) throws(PenError) -> CheckpointRecord {
        let lock = try stoppedLock("rolled back")
        defer { withExtendedLifetime(lock) {} }
        guard let record = list().first(where: { $0.label == label }) else {
            throw PenError("VM '\(vm.name)' has no checkpoint '\(label)'", fix: "see `pen vm checkpoints \(vm.name)`")
        }
        let source = directory(label)
        let staged = vm.path + "/" + ScratchDirectory.name(prefix: ".rollback-", rest: label)
        _ = try DiskCopy.copyFile(source + "/" + VMCheckpoints.diskName, to: staged, what: "the disk rolled back")
        let suspended = SuspendStore(vmPath: vm.path)
        guard suspended.remove() else {
            unlink(staged)
            throw PenError("VM '\(vm.name)''s saved machine could not be removed; nothing was rolled back")
        }
        guard rename(staged, vm.diskPath) == 0 else {
            unlink(staged)
            throw PenError.system("cannot put the rolled-back disk in place")
        }
        if record.withMemory {
            let scratch = try ScratchDirectory(in: vm.path, prefix: ".suspend-")
            for name in [SuspendStore.stateName, SuspendStore.recordName] {
                _ = try DiskCopy.copyFile(source + "/" + SuspendStore.directoryName + "/" + name, to: scratch.path + "/" + name,
                                      what: "the saved machine rolled back")
            }
            try suspended.publish(scratch.path)
        }
        SafeFiles.syncDirectory(vm.path)
        return record
    }

    public func remove(_ label: String) throws(PenError) {
        let label = try VMName(label, kind: "checkpoint label").value
        guard SafeFiles.exists(directory(label)) else {
            throw PenError("VM '\(vm.name)' has no checkpoint '\(label)'", fix: "see `pen vm checkpoints \(vm.name)`")
        }
        try SafeFiles.refuseSymlink(directory(label))
        let parked = root + "/" + ScratchDirectory.name(prefix: ".old-", rest: label)
        guard rename(directory(label), parked) == 0 else { throw PenError.system("cannot remove the checkpoint \(label)") }
        try? FileManager.default.removeItem(atPath: parked)
    }

    private func stoppedLock(_ what: String) throws(PenError) -> VMLock {
        try vm.refuseLinks()
        guard vm.exists else { throw PenError("no VM named '\(vm.name)'", fix: "see `pen vm ls`") }
        do { return try VMLock.stopped(vm) } catch {
            throw PenError("VM '\(vm.name)' is running; a running VM cannot be \(what) yet",
                           fix: "suspend it (`pen vm suspend \(vm.name)`), which keeps its processes, or stop it first")
        }
    }
}
