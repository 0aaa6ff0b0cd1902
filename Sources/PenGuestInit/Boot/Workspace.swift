// Stage 3b: the host's project directory at /workspace, over virtio-9p.
import Glibc
import PenWire

enum Workspace {
    static var mountPoint: String { GuestContract.workspaceMountPoint }

    static func mount(tag: String) throws(InitFailure) {
        try Files.makeDirectory(mountPoint)
        // cache=mmap: programs that mmap files (git, editors) work, and host edits show up at once.
        let options = "trans=virtio,version=9p2000.L,msize=524288,cache=mmap,access=client"
        try sys(Glibc.mount(tag, mountPoint, "9p", UInt(MS_NOATIME), options), "workspace", "mount 9p \(tag) on \(mountPoint)")
    }

    static func unmount() {
        _ = umount2(mountPoint, Int32(MNT_DETACH))
    }
}
