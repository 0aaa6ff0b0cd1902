// Starting a VM: its wiring (socketpairs, the files QEMU writes opened without following
// links, passt) and QEMU, which inherits exactly those descriptors and the VM's lock.
import Foundation
import PenCore
import CHostSys
import PenIO
import PenWire

enum VMBoot {
    /// Wires and starts the VM; `keepOpen` (the VM's lock) is inherited by QEMU too. A restart
    /// (after a stalled boot or a failed restore, `restartReason` saying which) keeps the first
    /// boot's log and replaces its empty archive.
    static func start(_ spec: VMSpec, qemu: QEMU, archivePath: String?, keepOpen: [Int32],
                      restartReason: String? = nil) throws(PenError) -> SupervisedVM {
        let restarted = restartReason != nil
        signal(SIGPIPE, SIG_IGN)
        let held = Descriptors()
        let (control, qemuControl) = try held.socketPair("control")
        let (netPort, qemuNetPort) = try held.socketPair("pen.net")
        var archive: (pen: Int32, qemu: Int32, file: Int32)?
        if let path = archivePath, spec.archivePort {
            if restarted { unlink(path) }
            let (pen, vm) = try held.socketPair("archive")
            archive = (pen, vm, try held.openNoFollow(path, O_WRONLY | O_CREAT | O_EXCL))
        }
        // The files QEMU writes are opened first: a planted link fails the boot before anything starts.
        // Appending (also QEMU's writes: append=on), so the supervisor can cut it short when a
        // guest floods its console (Supervisor.capBootLog).
        let bootLog = try held.openNoFollow(spec.bootLogPath, O_WRONLY | O_CREAT | O_APPEND | (restarted ? 0 : O_TRUNC))
        if let restartReason { writeAll(bootLog, Array("\n--- pen: \(restartReason); QEMU started again\n".utf8)) }
        let disk = try spec.diskPath.map { path throws(PenError) in try openDisk(path, held) }
        let rootImage = try spec.rootImagePath.map { path throws(PenError) in try held.openNoFollow(path, O_RDONLY) }
        var wiring = VMWiring(control: qemuControl, archive: archive?.qemu, network: nil, bootLog: bootLog, disk: disk,
                              rootImage: rootImage)
        wiring.netPort = qemuNetPort
        wiring.kernel = try held.openNoFollow(spec.kernelPath, O_RDONLY)
        wiring.initrd = try held.openNoFollow(spec.initrdPath, O_RDONLY)
        if let dir = spec.workspace { wiring.workspace = try held.openNoFollow(dir, O_RDONLY | O_DIRECTORY) }
        // QMP for the supervisor alone, for the VM's life: it saves a boot snapshot, suspends the
        // VM, and lets a resumed one run.
        let (monitor, qemuMonitor) = try held.socketPair("monitor")
        wiring.monitor = qemuMonitor
        switch spec.snapshot {
        case .cold, .save: break
        case .resume(let state):
            if let verified = spec.snapshotDescriptor {
                wiring.snapshotState = try held.reopen(verified, O_RDONLY, what: state)
            } else {
                wiring.snapshotState = try held.openNoFollow(state, O_RDONLY)
            }
        case .restore(let state, _):
            // The state the choosing pen verified, through the descriptor it opened then: a file
            // swapped in at the path since is never read. (A fresh description, so a restarted
            // boot's QEMU reads it from its start.) By path only where no pen chose it (tests).
            if let verified = spec.snapshotDescriptor {
                wiring.snapshotState = try held.reopen(verified, O_RDONLY, what: state)
            } else {
                wiring.snapshotState = try held.openNoFollow(state, O_RDONLY)
            }
        }
        let network = try startNetwork(spec.network, held)
        wiring.network = network?.0
        let argv = qemu.command(spec, wiring)
        var environment = ChildEnvironment.helpers(from: Settings.current.environment)
        var executable: Int32?
        if spec.qemuUser != nil, let directory = spec.qemuCopyDirectory {
            // As another user QEMU runs from an execute-only copy, so it is not dumpable; through a
            // descriptor opened here, so the user needs no way into pen's (root's) image cache.
            let copy = try ExecuteOnlyQEMU.copy(of: qemu.executable, in: directory)
            executable = try held.openNoFollow(copy, O_RDONLY)  // root may read it; the user only executes it
            if let modules = qemu.moduleDirectory { environment.append("QEMU_MODULE_DIR=" + modules) }
        }
        let process = try ChildProcess.start(argv, logPath: spec.qemuLogPath,
                                             inheriting: wiring.descriptors + keepOpen, environment: environment,
                                             as: spec.qemuUser, confiningFileModes: spec.workspace != nil,
                                             executing: executable)
        for fd in wiring.descriptors { held.close(fd) }  // QEMU holds its own copies now
        var vm = SupervisedVM(process: process, control: control, archive: archive.map { ($0.pen, $0.file) }, monitor: monitor,
                              held: held, passt: network?.1)
        vm.netPort = netPort
        return vm
    }

    /// The overlay disk, opened read-write and read-only without following a link; it must be
    /// a regular file (pen only boots its own disk images).
    static func openDisk(_ path: String, _ held: Descriptors) throws(PenError) -> VMWiring.DiskDescriptors {
        let readWrite = try held.openNoFollow(path, O_RDWR)
        var st = stat()
        guard fstat(readWrite, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw PenError("\(path) is not a regular file", fix: "pen only boots its own disk images: remove it")
        }
        return VMWiring.DiskDescriptors(readWrite: readWrite, readOnly: try held.openNoFollow(path, O_RDONLY))
    }

    /// passt gets one end of a socketpair and QEMU's network device the other. passt ends when
    /// that socket closes (`--fd` implies `--one-off`), so once QEMU is gone; the returned process
    /// is reaped with the boot (a restarted boot's passt leaves no zombie). Returns QEMU's end and
    /// passt (nil for slirp or no network).
    static func startNetwork(_ network: NetworkBackend, _ held: Descriptors) throws(PenError) -> (Int32, ChildProcess)? {
        guard case .passt(let passt, let ports, let log) = network else { return nil }
        // passt opens its log itself: it gets /proc/self/fd/N of a file pen opened without
        // following a link, never a path in the VM's directory it would resolve on its own.
        let logFile = try held.openNoFollow(log, O_WRONLY | O_CREAT | O_TRUNC)
        let (passtEnd, qemuEnd) = try held.socketPair("network")
        let passtProcess = try ChildProcess.start(passt.command(fd: passtEnd, publish: ports, logPath: "/proc/self/fd/\(logFile)"),
                                                  logPath: log + ".out", inheriting: [passtEnd, logFile])
        held.close(passtEnd)
        held.close(logFile)
        return (qemuEnd, passtProcess)
    }
}
