// A root pen runs QEMU as the workspace's owner. A process that exec'd a file its uid may read is
// dumpable, so that user could ptrace their VM's QEMU, read the guest's memory (the env values
// root's pen sent) or change the machine a boot snapshot is saved from. The kernel makes a
// process non-dumpable when its executable is not readable by it (fs/exec.c: would_dump), so
// QEMU runs from a root-owned copy with mode 0111: executable by the user, never readable.
import Foundation
import PenIO

public enum ExecuteOnlyQEMU {
    /// The copy of `executable` in `directory` (made once per build of QEMU, published by rename).
    public static func copy(of executable: String, in directory: String) throws(PenError) -> String {
        var st = stat()
        guard stat(executable, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw PenError.system("cannot read \(executable)")
        }
        // The build of QEMU on disk now: a new package gets a new copy.
        // Named as the original (ps, and whoever looks for QEMU, see qemu-system-x86_64).
        let build = directory + "/" + buildName(QEMU(executable: executable).identity)
        let path = build + "/" + (executable as NSString).lastPathComponent
        if isExecuteOnly(path, size: st.st_size) { return path }
        try SafeFiles.makeDirectories(build, mode: 0o700)  // QEMU is started through a descriptor: no path needed
        let scratch = build + "/" + ScratchDirectory.name(prefix: ".copy-", rest: "qemu")
        let source = try SafeFiles.openNoFollow(executable.resolvingLinks, O_RDONLY)
        defer { close(source) }
        let target = try SafeFiles.openNoFollow(scratch, O_WRONLY | O_CREAT | O_EXCL, mode: 0o700)
        defer { close(target) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = read(source, &buffer, buffer.count)
            if n == 0 { break }
            guard n > 0, writeAll(target, Array(buffer[0..<n])) else {
                unlink(scratch)
                throw PenError.system("cannot copy \(executable) to \(scratch)")
            }
        }
        guard fchmod(target, 0o111) == 0, fsync(target) == 0, rename(scratch, path) == 0 else {
            unlink(scratch)
            throw PenError.system("cannot publish \(path)")
        }
        return path
    }

    /// The directory name of the copy of the QEMU build with this `QEMU.identity`.
    public static func buildName(_ identity: String) -> String {
        String(SHA256File.hex(bytes: Array(identity.utf8)).prefix(16))
    }

    /// A root-owned regular file of `size` bytes that only executes (no read or write bits).
    static func isExecuteOnly(_ path: String, size: off_t) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && st.st_uid == 0
            && st.st_mode & 0o7777 == 0o111 && st.st_size == size
    }
}

private extension String {
    /// The file a path's links lead to (QEMU's data directory is found beside the real one).
    var resolvingLinks: String {
        guard let real = realpath(self, nil) else { return self }
        defer { free(real) }
        return String(cString: real)
    }
}
