// `pen vm rm`: deletes a stopped VM. Under the VM's lock (no session can start meanwhile) the
// directory is renamed to a hidden sibling in one atomic step, so a racing `pen shell` sees
// either the whole VM or none of it, never a half-deleted one; then the hidden copy is deleted.
import Foundation

public enum VMRemover {
    static let trashPrefix = ".rm-"

    /// Checks that `vm` names an existing VM directory (not a symlink) that is not running.
    public static func checkRemovable(_ vm: VMDirectory) throws(PenError) {
        var st = stat()
        guard lstat(vm.path, &st) == 0 else {
            if errno == ENOENT { throw PenError("no VM named '\(vm.name)'", fix: "see `pen vm ls`") }
            throw PenError.system("cannot look at \(vm.path)")
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: break
        case S_IFLNK: throw PenError("\(vm.path) is a symlink, not a VM directory; pen does not delete through symlinks: remove the link yourself")
        default: throw PenError("\(vm.path) is not a VM directory: remove it yourself")
        }
        if VMLock.isHeld(path: vm.lockPath) { throw VMLock.running(vm.name) }
    }

    /// Removes the VM's directory and everything in it.
    public static func remove(_ vm: VMDirectory) throws(PenError) {
        try checkRemovable(vm)
        let lock = try VMLock.stopped(vm)
        let parent = (vm.path as NSString).deletingLastPathComponent
        ScratchDirectory.sweep(in: parent, prefixes: [trashPrefix])
        let trash = parent + "/" + ScratchDirectory.name(prefix: trashPrefix, rest: vm.name.value)
        if SafeFiles.exists(trash) { try? FileManager.default.removeItem(atPath: trash) }
        guard rename(vm.path, trash) == 0 else { throw PenError.system("cannot remove \(vm.path)") }
        SafeFiles.syncDirectory(parent)
        // Held until the files are gone: a session that opened the lock before the rename is refused.
        defer { withExtendedLifetime(lock) {} }
        do {
            try FileManager.default.removeItem(atPath: trash)
        } catch {
            throw PenError("VM '\(vm.name)' is gone, but deleting its files failed (\(error)); remove \(trash) yourself")
        }
    }

    /// Data on the VM's disk per its ext4 superblock (the journal and inode tables, ~225 MB on
    /// an empty 10 GiB disk, are not the user's data); the file's allocated blocks when the
    /// superblock cannot be read (a damaged disk still holds data worth a question).
    public static func dataBytes(_ vm: VMDirectory) -> UInt64 {
        if let usage = try? OverlayDisk.measure(vm.diskPath) { return usage.data }
        var st = stat()
        guard lstat(vm.diskPath, &st) == 0 else { return 0 }
        return UInt64(st.st_blocks) * 512
    }
}
