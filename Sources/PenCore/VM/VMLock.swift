// A running VM holds an exclusive flock on its `lock` file. The lock's open file is also
// inherited by QEMU, so it stays held until both pen and QEMU are gone: a new session can
// never start while an old QEMU still has the disk open.
import Foundation

public final class VMLock {
    public let fd: Int32

    /// Takes the lock without waiting; a held lock means the VM is running.
    public init(path: String, vmName: VMName) throws(PenError) {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let err = errno
            if err == ENOENT { throw Self.vanished(vmName) }  // `pen vm rm` renamed the directory away
            try SafeFiles.refuseSymlink(path)
            throw PenError.system("cannot open \(path)", err)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            close(fd)
            if err == EWOULDBLOCK { throw Self.busy(vmName) }
            throw PenError.system("cannot lock \(path)", err)
        }
        // The lock counts only if its file is still the one at `path`: a `pen vm rm` that held
        // it meanwhile has removed the VM, and a lock on a deleted file guards nothing.
        guard Self.isStillLinked(fd: fd, path: path) else {
            close(fd)
            throw Self.vanished(vmName)
        }
        self.fd = fd
        Self.recordOwner(fd: fd)
    }

    /// Takes over a lock another process took and handed down (the supervisor, from the pen that
    /// started it): the lock is the same open file, held all along; only its recorded owner changes.
    public init(adopting fd: Int32) {
        self.fd = fd
        Self.recordOwner(fd: fd)
    }

    /// The error for a VM whose lock another pen holds (it is running, or starting).
    public static func busy(_ vmName: VMName) -> PenError {
        PenError("VM '\(vmName)' is already running", fix: "reach it with `pen shell \(vmName)` or `pen exec \(vmName)`, or stop it first")
    }

    /// The error for a VM that was removed while pen was opening it (callers may retry).
    /// For what needs the VM stopped (`vm rm`, `vm fsck`): its lock, or the error naming `pen vm stop`.
    public static func stopped(_ vm: VMDirectory) throws(PenError) -> VMLock {
        do {
            return try VMLock(path: vm.lockPath, vmName: vm.name)
        } catch {
            if isHeld(path: vm.lockPath) { throw running(vm.name) }
            throw error
        }
    }

    public static func running(_ vmName: VMName) -> PenError {
        PenError("VM '\(vmName)' is running: stop it first with `pen vm stop \(vmName)`")
    }

    public static func vanished(_ vmName: VMName) -> PenError {
        PenError("VM '\(vmName)' was removed while pen was opening it; run the command again")
    }

    static func isStillLinked(fd: Int32, path: String) -> Bool {
        var held = stat(), named = stat()
        guard fstat(fd, &held) == 0, held.st_nlink > 0, lstat(path, &named) == 0 else { return false }
        return held.st_dev == named.st_dev && held.st_ino == named.st_ino
    }

    /// Writes our pid into the lock file so `pen vm stop` knows whom to ask; `holder` checks it
    /// against the kernel's lock table, so a stale pid left here is never trusted on its own.
    private static func recordOwner(fd: Int32) {
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0 else { return }
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// The pid of the process holding the lock (the VM's supervisor), or nil when the lock is
    /// free or its holder cannot be confirmed. The pid written in the file counts only while the
    /// kernel's lock table (/proc/locks) shows a flock on this very file and that process has the
    /// file open — so a stale or planted pid is never returned. (The table names the pid that
    /// took the lock, which is the pen that started the VM; the supervisor it handed the lock to
    /// writes its own pid into the file.)
    public static func holder(path: String) -> pid_t? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0,
              let text = String(validating: buffer[0..<n], as: UTF8.self),
              let pid = pid_t(text.trimmingCharacters(in: "\n")), pid > 0 else { return nil }
        guard let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let held = !ProcLocks.flockHolders(in: table, device: st.st_dev, inode: st.st_ino).isEmpty
        guard held, ProcLocks.process(pid, hasOpen: st) else { return nil }
        return pid
    }

    /// Whether some process holds the lock (the VM is running), without taking it.
    public static func isHeld(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    deinit { close(fd) }
}
