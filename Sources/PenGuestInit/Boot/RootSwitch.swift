// Stage 2: the ext4 overlay disk becomes the upper layer over the initramfs, then a real
// pivot_root moves the system onto the overlay and drops the initramfs from view.
import CGuestSys
import Glibc

enum RootSwitch {
    static let stage = "disk"
    static let device = "/dev/vda"
    /// Both live on /run (a separate tmpfs), so neither shows up inside the overlay's lower layer.
    static let diskMount = "/run/pen-disk"
    static let newRoot = "/run/pen-root"

    static func mountDiskAndOverlay() throws(InitFailure) {
        try Devices.waitFor(device, stage: stage)
        try Files.makeDirectory(diskMount)
        try sys(mount(device, diskMount, "ext4", UInt(MS_NOATIME), nil), stage, "mount \(device) (ext4)")
        DiskHealth.watch(diskMount)
        try Files.makeDirectory(diskMount + "/upper")
        try Files.makeDirectory(diskMount + "/work")
        try Files.makeDirectory(newRoot)
        let options = "lowerdir=/,upperdir=\(diskMount)/upper,workdir=\(diskMount)/work"
        try sys(mount("overlay", newRoot, "overlay", 0, options), "overlay", "mount overlayfs on \(newRoot)")
    }

    static func pivot() throws(InitFailure) {
        let stage = "pivot_root"
        _ = rmdir("/ramroot")  // the re-root's mountpoint, empty now; keep it out of the lower layer
        try Files.makeDirectory(newRoot + "/oldroot")
        try sys(pen_pivot_root(newRoot, newRoot + "/oldroot"), stage, "pivot_root")
        try sys(chdir("/"), stage, "chdir /")
        for api in ["/proc", "/sys", "/dev", "/run"] {
            try Files.makeDirectory(api)
            try sys(mount("/oldroot" + api, api, nil, UInt(MS_MOVE), nil), stage, "move \(api)")
        }
        try sys(umount2("/oldroot", Int32(MNT_DETACH)), stage, "detach the initramfs root")
        _ = rmdir("/oldroot")
    }
}
