// The files QEMU writes in a VM's directory, opened by pen without following symlinks and
// handed to QEMU as descriptors: a link planted at boot.log or overlay.img is refused, and
// nothing is ever written through it.
import Foundation

struct VMFileHandles {
    private(set) var fds: [Int32] = []

    /// Opens the boot log (truncated) and, when the VM has one, the overlay disk.
    mutating func open(for vm: inout VMConfig) throws(PenError) {
        let log = try SafeFiles.openNoFollow(vm.bootLogPath, O_WRONLY | O_CREAT | O_TRUNC)
        fds.append(log)
        vm.bootLogFD = log
        if let disk = vm.diskPath {
            let readWrite = try SafeFiles.openNoFollow(disk, O_RDWR)
            fds.append(readWrite)
            try Self.requireRegularFile(readWrite, disk)
            let readOnly = try SafeFiles.openNoFollow(disk, O_RDONLY)
            fds.append(readOnly)
            vm.diskFDs = VMConfig.DiskFDs(readWrite: readWrite, readOnly: readOnly)
        }
    }

    private static func requireRegularFile(_ fd: Int32, _ path: String) throws(PenError) {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw PenError("\(path) is not a regular file; pen only boots its own disk images: remove it")
        }
    }

    /// QEMU holds its own copies once started.
    mutating func close() {
        for fd in fds { Glibc.close(fd) }
        fds = []
    }
}
