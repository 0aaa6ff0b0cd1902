// Stage 2: the root. The read-only root image (EROFS, a virtio disk with a known serial) is the
// lower layer of an overlay whose upper layer is the VM's ext4 disk (or, for a builder VM, a
// tmpfs); then a real pivot_root moves the system onto the overlay and drops the initramfs
// (which holds only the init and its modules) from view.
import CGuestSys
import Glibc
import PenWire

enum RootSwitch {
    static let stage = "disk"
    /// All live on /run (a separate tmpfs), so none shows up inside the overlay's layers.
    static let lowerMount = "/run/pen-lower"
    static let diskMount = "/run/pen-disk"
    static let newRoot = "/run/pen-root"

    /// Before the snapshot point: the image every VM of it shares, mounted read-only, and the
    /// pages every session starts with read once (so a restored VM finds them in memory).
    static func mountLower() throws(InitFailure) {
        guard let image = Devices.block(serial: GuestContract.rootImageSerial) else {
            throw InitFailure(stage, "no root image (no disk with serial \(GuestContract.rootImageSerial))")
        }
        try Files.makeDirectory(lowerMount)
        try sys(mount(image, lowerMount, "erofs", UInt(MS_RDONLY), nil), stage, "mount \(image) (the root image)")
        for file in warmFiles { _ = Files.read(lowerMount + "/" + file) }
    }

    /// The loader, the C library and the shells: what every session's first command reads.
    static let warmFiles = ["usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/libc.so.6",
                            "usr/lib/x86_64-linux-gnu/libtinfo.so.6", "usr/bin/bash", "usr/bin/dash", "usr/bin/env"]

    /// After it: this VM's own disk (or a builder's tmpfs) as the upper layer, the overlay, the pivot.
    static func mountRoot(_ mode: RootMode, vmName: String, notice: (String) -> Void) throws(InitFailure) {
        try Files.makeDirectory(diskMount)
        switch mode {
        case .overlay:
            guard let disk = Devices.block(serial: GuestContract.overlaySerial) else {
                throw InitFailure(stage, "no disk with serial \(GuestContract.overlaySerial)")
            }
            try mountDisk(disk, vmName: vmName, notice: notice)
            DiskHealth.watch(diskMount)
        case .image:
            // A builder's changes live in RAM until they are streamed out.
            try sys(mount("tmpfs", diskMount, "tmpfs", UInt(MS_NOATIME), "mode=0755"), stage, "mount tmpfs on \(diskMount)")
        }
        try Files.makeDirectory(diskMount + "/upper")
        try Files.makeDirectory(diskMount + "/work")
        try Files.makeDirectory(newRoot)
        let options = "lowerdir=\(lowerMount),upperdir=\(diskMount)/upper,workdir=\(diskMount)/work"
        try sys(mount("overlay", newRoot, "overlay", 0, options), "overlay", "mount overlayfs on \(newRoot)")
        try pivot()
    }

    /// The VM's ext4 disk; one `e2fsck -p` when it does not mount, then one more try.
    private static func mountDisk(_ disk: String, vmName: String, notice: (String) -> Void) throws(InitFailure) {
        guard mount(disk, diskMount, "ext4", UInt(MS_NOATIME), nil) != 0 else { return }
        let mountError = errno
        Console.log("pen-init: \(disk) does not mount (errno \(mountError)); running e2fsck -p")
        let repair = DiskRepair.preen(disk, root: lowerMount)
        Console.log("pen-init: e2fsck -p \(disk): status \(repair.status): \(repair.summary)")
        if repair.status < 4, mount(disk, diskMount, "ext4", UInt(MS_NOATIME), nil) == 0 {
            notice("pen: VM '\(vmName)': its disk did not mount; e2fsck repaired it (\(repair.summary))")
            return
        }
        throw InitFailure(stage, "the disk of VM '\(vmName)' does not mount (\(String(cString: strerror(mountError)))) and "
            + "e2fsck -p could not repair it (status \(repair.status): \(repair.summary)); the disk was kept: "
            + "check it with `pen vm fsck \(vmName)`")
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
