// Creates a VM on first use (directory, lock, overlay disk, then vm.json last, so a
// record only exists for a complete VM) or opens an existing one under its lock.
import Foundation

public enum VMProvisioner {
    public static func openOrCreate(_ vm: VMDirectory, diskSize: UInt64, diskSizeGiven: Bool, cpus: Int,
                                    memoryMiB: Int, profile: String, setupHash: String?,
                                    notice: (String) -> Void) throws(PenError) -> (VMRecord, VMLock) {
        // A `pen vm rm` racing us can remove the VM between our look and our lock: then we
        // start over and find no VM (so create a fresh one) rather than use a deleted one.
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try attemptOpenOrCreate(vm, diskSize: diskSize, diskSizeGiven: diskSizeGiven, cpus: cpus,
                                               memoryMiB: memoryMiB, profile: profile, setupHash: setupHash,
                                               notice: notice)
            } catch let error where error == VMLock.vanished(vm.name) && attempt < 5 {
                continue
            }
        }
    }

    private static func attemptOpenOrCreate(_ vm: VMDirectory, diskSize: UInt64, diskSizeGiven: Bool, cpus: Int,
                                            memoryMiB: Int, profile: String, setupHash: String?,
                                            notice: (String) -> Void) throws(PenError) -> (VMRecord, VMLock) {
        if vm.exists {
            let lock = try VMLock(path: vm.lockPath, vmName: vm.name)
            let record = try vm.load()
            try checkDisk(vm)
            if diskSizeGiven && diskSize != record.diskSize {
                notice("pen: --disk-size applies only when a VM is created; '\(vm.name)' keeps its \(ByteSize.format(record.diskSize)) disk")
            }
            return (record, lock)
        }
        try OverlayDisk.validate(size: diskSize)
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
            try OverlayDisk.create(at: vm.diskPath, size: diskSize)
            let record = VMRecord(name: vm.name.value, diskSize: diskSize, profile: profile, setupHash: setupHash,
                                  cpus: cpus, memoryMiB: memoryMiB)
            try vm.save(record)
            return (record, lock)
        } catch {
            // No half-made VM stays behind (we hold its lock, and it has no record yet).
            unlink(vm.diskPath)
            unlink(vm.lockPath)
            rmdir(vm.path)
            if let error = error as? PenError { throw error }
            throw PenError("cannot create the overlay disk for '\(vm.name)': \(error)")
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
