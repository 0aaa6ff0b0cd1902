// `pen vm fsck`: e2fsck over a stopped VM's disk, under its lock (no boot can start meanwhile).
// Asked for by the user only — after a boot that said the disk does not mount and the guest's
// own `e2fsck -p` could not repair it. This is the one place pen has a host tool parse the
// guest's filesystem in full (see docs/SECURITY.md); e2fsck gets the minimal environment.
import Foundation

public enum VMFsck {
    public struct Outcome: Sendable {
        /// e2fsck's exit status: 0 clean, 1 repaired, 4 errors left, 8 and above it failed.
        public let status: Int32
        public var clean: Bool { status == 0 }
        public var repaired: Bool { status == 1 || status == 2 }
    }

    /// Checks (repair: false, nothing is written: `e2fsck -f -n`) or repairs (`e2fsck -f -y`)
    /// the disk; e2fsck's report goes to pen's stderr.
    public static func run(_ vm: VMDirectory, repair: Bool) throws(PenError) -> Outcome {
        try vm.refuseLinks()
        guard vm.exists else { throw PenError("no VM named '\(vm.name)'", fix: "see `pen vm ls`") }
        let lock = try VMLock.stopped(vm)
        defer { withExtendedLifetime(lock) {} }
        try SafeFiles.refuseSymlink(vm.diskPath)
        // A suspended VM's saved memory holds the filesystem's state as it was: a repaired disk
        // would no longer match it (checking alone writes nothing).
        if repair, SuspendStore(vmPath: vm.path).exists {
            throw PenError("VM '\(vm.name)' is suspended: a repaired disk would no longer match its saved machine",
                           fix: "resume it (`pen vm start \(vm.name)`) and stop it first, or drop the saved machine with `pen vm start \(vm.name) --cold`")
        }
        guard let e2fsck = ExecutableSearch.find("e2fsck", environment: ["PATH": ChildEnvironment.path]) else {
            throw PenError("e2fsck not found", fix: "install it with `sudo apt-get install e2fsprogs`")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: e2fsck)
        process.arguments = ["-f", repair ? "-y" : "-n", vm.diskPath]
        process.environment = ChildEnvironment.helperVariables(from: Settings.current.environment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        do { try process.run() } catch { throw PenError("cannot start e2fsck", cause: "\(error)") }
        process.waitUntilExit()
        guard process.terminationReason == .exit else {  // killed: it decided nothing
            throw PenError("e2fsck was stopped by signal \(process.terminationStatus) before it finished",
                           fix: "run `pen vm fsck \(vm.name)` again")
        }
        return Outcome(status: process.terminationStatus)
    }
}
