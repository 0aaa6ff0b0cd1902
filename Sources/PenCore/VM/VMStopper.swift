// `pen vm stop`: asks the pen session that runs a VM to shut it down cleanly (SIGTERM makes
// the session send `terminate`, so the guest syncs and freezes its disk), and pulls the plug
// (SIGKILL; QEMU dies with pen through PDEATHSIG) when that takes too long.
import Foundation

public enum VMStopResult: Equatable, Sendable {
    case notRunning
    /// Shut down cleanly within the timeout.
    case stopped
    /// Killed after the timeout.
    case forced
}

public enum VMStopper {
    /// How long to wait for the lock to be released after SIGKILL (QEMU follows pen at once).
    static let killGrace = 15.0
    /// How long a held lock may go without a confirmed holder (a session starting up, or QEMU
    /// dying just after its pen) before pen gives up.
    static let unknownHolderGrace = 5.0

    public static func stop(_ vm: VMDirectory, timeout: Double, say: (String) -> Void) throws(PenError) -> VMStopResult {
        guard timeout >= 0, timeout.isFinite else {
            throw PenError("invalid --timeout \(timeout)", fix: "use a number of seconds, 0 or more")
        }
        try SafeFiles.refuseSymlink(vm.path)
        guard SafeFiles.isDirectory(vm.path) else { throw PenError("no VM named '\(vm.name)'", fix: "see `pen vm ls`") }
        guard let process = try confirmedHolder(vm) else { return .notRunning }
        say("pen: stopping VM '\(vm.name)' (pen session \(process.pid))")
        try process.send(SIGTERM)
        if waitUntilFree(vm, process: process, seconds: timeout) { return .stopped }
        try process.send(SIGKILL)
        guard waitUntilFree(vm, process: process, seconds: killGrace) else {
            throw PenError("VM '\(vm.name)' is still locked after killing pen session \(process.pid); check `cat /proc/locks` for \(vm.lockPath)")
        }
        return .forced
    }

    /// A pidfd on the process holding the VM's lock, opened *before* confirming it holds the lock,
    /// so the pid cannot be recycled between the check and the signal. Nil when the VM is not running.
    static func confirmedHolder(_ vm: VMDirectory) throws(PenError) -> ProcessHandle? {
        let deadline = Date().addingTimeInterval(unknownHolderGrace)
        while VMLock.isHeld(path: vm.lockPath) {
            if let pid = VMLock.holder(path: vm.lockPath), let process = try? ProcessHandle(pid: pid),
               VMLock.holder(path: vm.lockPath) == pid {
                return process
            }
            guard Date() < deadline else {
                throw PenError("VM '\(vm.name)' is locked, but no pen session could be confirmed as its holder; check `cat /proc/locks` for \(vm.lockPath)")
            }
            usleep(100_000)
        }
        return nil
    }

    /// Waits until the lock is free: the pen session has exited and its QEMU with it.
    static func waitUntilFree(_ vm: VMDirectory, process: ProcessHandle, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            // Wakes as soon as pen exits; QEMU (which pen waits for) is normally gone by then.
            let exited = process.waitForExit(seconds: min(0.2, max(0, deadline.timeIntervalSinceNow)))
            if exited && !VMLock.isHeld(path: vm.lockPath) { return true }
            if Date() >= deadline { return !VMLock.isHeld(path: vm.lockPath) }
            if exited { usleep(50_000) }
        }
    }
}
