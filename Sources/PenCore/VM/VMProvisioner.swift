// Creates a VM on first use (directory, lock, overlay disk, then vm.json last, so a
// record only exists for a complete VM) or opens an existing one under its lock.
import Foundation

/// What a VM gets when it is created (an existing VM keeps what it was created with).
public struct NewVM: Equatable, Sendable {
    public var diskSize: UInt64
    /// The user asked for this disk size (so an existing VM's different size is worth a notice).
    public var diskSizeGiven: Bool
    public var cpus: Int
    public var memoryMiB: Int
    public var profile: String
    public var setupHash: String?

    public init(diskSize: UInt64, diskSizeGiven: Bool, cpus: Int, memoryMiB: Int, profile: String, setupHash: String?) {
        self.diskSize = diskSize
        self.diskSizeGiven = diskSizeGiven
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.profile = profile
        self.setupHash = setupHash
    }
}

public enum VMProvisioner {
    public static func openOrCreate(_ vm: VMDirectory, _ new: NewVM,
                                    notice: (String) -> Void) throws(PenError) -> (VMRecord, VMLock) {
        // A `pen vm rm` racing us can remove the VM between our look and our lock: then we
        // start over and find no VM (so create a fresh one) rather than use a deleted one.
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try attemptOpenOrCreate(vm, new, notice: notice)
            } catch let error where error == VMLock.vanished(vm.name) && attempt < 5 {
                continue
            }
        }
    }

    private static func attemptOpenOrCreate(_ vm: VMDirectory, _ new: NewVM,
                                            notice: (String) -> Void) throws(PenError) -> (VMRecord, VMLock) {
        try vm.refuseLinks()
        if vm.exists {
            let lock = try VMLock(path: vm.lockPath, vmName: vm.name)
            let record = try vm.load()
            try checkDisk(vm)
            if new.diskSizeGiven && new.diskSize != record.diskSize {
                notice("pen: --disk-size applies only when a VM is created; '\(vm.name)' keeps its \(ByteSize.format(record.diskSize)) disk")
            }
            return (record, lock)
        }
        try OverlayDisk.validate(size: new.diskSize)
        if !SafeFiles.isDirectory(vm.path) {
            try SafeFiles.refuseSymlink(vm.path)
            // Another pen may create it at the same moment: then the lock below decides who goes on.
            if mkdir(vm.path, 0o700) != 0 && !(errno == EEXIST && SafeFiles.isDirectory(vm.path)) {
                throw PenError.system("cannot create directory \(vm.path)")
            }
        }
        let lock = try VMLock(path: vm.lockPath, vmName: vm.name)
        if vm.exists {  // the other pen finished creating it first
            let record = try vm.load()
            try checkDisk(vm)
            return (record, lock)
        }
        // A directory without vm.json is a creation that was interrupted: its disk is not trusted.
        if SafeFiles.exists(vm.diskPath) {
            try SafeFiles.refuseSymlink(vm.diskPath)
            unlink(vm.diskPath)
        }
        do {
            try OverlayDisk.create(at: vm.diskPath, size: new.diskSize)
            let record = VMRecord(name: vm.name.value, diskSize: new.diskSize, profile: new.profile,
                                  setupHash: new.setupHash, cpus: new.cpus, memoryMiB: new.memoryMiB)
            try vm.save(record)
            return (record, lock)
        } catch {
            // No half-made VM stays behind (we hold its lock, and it has no record yet).
            unlink(vm.diskPath)
            unlink(vm.lockPath)
            rmdir(vm.path)
            throw error
        }
    }

    /// A recorded VM must still have its disk. (Whether it is a regular file and not a link is
    /// checked where the disk is opened for QEMU, in VMFileHandles.)
    static func checkDisk(_ vm: VMDirectory) throws(PenError) {
        guard SafeFiles.exists(vm.diskPath) else {
            throw PenError("VM '\(vm.name)' has no overlay disk at \(vm.diskPath); remove \(vm.path) to start over")
        }
    }
}
