// Stage 1: make the initramfs root pivotable and mount the API filesystems.
import Glibc

enum EarlyMounts {
    static let stage = "early"

    /// pivot_root refuses the initramfs itself as the old root (EINVAL). Re-rooting on a
    /// bind mount of it gives the old root a parent, so a real pivot_root works later.
    static func rerootOnBindMount() throws(InitFailure) {
        try Files.makeDirectory("/ramroot")
        try sys(mount("/", "/ramroot", nil, UInt(MS_BIND | MS_REC), nil), stage, "bind / on /ramroot")
        try sys(chdir("/ramroot"), stage, "chdir /ramroot")
        try sys(mount(".", "/", nil, UInt(MS_MOVE), nil), stage, "move /ramroot to /")
        try sys(chroot("."), stage, "chroot")
        try sys(chdir("/"), stage, "chdir /")
    }

    static func mountAPIFilesystems() throws(InitFailure) {
        let nosuid = UInt(MS_NOSUID), noexec = UInt(MS_NOEXEC), nodev = UInt(MS_NODEV)
        try mountFS("proc", "/proc", "proc", nosuid | noexec | nodev)
        try mountFS("sysfs", "/sys", "sysfs", nosuid | noexec | nodev)
        try mountFS("devtmpfs", "/dev", "devtmpfs", nosuid, "mode=0755")
        try mountFS("devpts", "/dev/pts", "devpts", nosuid | noexec, "gid=5,mode=620,ptmxmode=666")
        try mountFS("tmpfs", "/dev/shm", "tmpfs", nosuid | nodev, "mode=1777")
        try mountFS("tmpfs", "/run", "tmpfs", nosuid | nodev, "mode=0755")
    }

    static func mountFS(_ source: String, _ target: String, _ type: String,
                        _ flags: UInt, _ data: String? = nil) throws(InitFailure) {
        try Files.makeDirectory(target)
        let rc: Int32
        if let data { rc = mount(source, target, type, flags, data) } else { rc = mount(source, target, type, flags, nil) }
        try sys(rc, stage, "mount \(type) on \(target)")
    }
}
