// The host side of one boot: wires the VM (socketpairs, the files QEMU writes, passt), starts
// QEMU, sends the session over the control channel and relays it until QEMU has exited.
import Foundation
import CHostSys
import PenIO
import PenWire

/// One boot with one session: what to boot, what to run in it, and how pen talks to the user.
public struct BootRequest {
    public var spec: VMSpec
    public var session: SessionConfig
    /// The terminal is attached to the guest console (shell mode).
    public var interactive = false
    public var bootTimeout = 120.0
    /// Whole-session limit (builds); nil: none.
    public var sessionTimeout: Double?
    /// Build mode: where the root archive from the archive port is written (created, never replaced).
    public var archivePath: String?
    /// Receives the guest's stdout/stderr (isError, bytes); nil: pen's own stdout and stderr.
    public var output: ((Bool, [UInt8]) -> Void)?
    /// Descriptors QEMU inherits besides its wiring: the VM's lock, so it is held while QEMU lives.
    public var keepOpen: [Int32] = []

    public init(spec: VMSpec, session: SessionConfig) {
        self.spec = spec
        self.session = session
    }
}

public enum VMRunner {
    /// Boots the VM, runs the session and returns its outcome once QEMU has exited.
    public static func run(_ request: BootRequest, qemu: QEMU, message: @escaping (String) -> Void) throws(PenError) -> SessionOutcome {
        signal(SIGPIPE, SIG_IGN)
        let started = Date()
        let spec = request.spec
        let held = Descriptors()
        let (control, qemuControl) = try held.socketPair("control")
        let (console, qemuConsole) = try held.socketPair("console")
        var archive: (pen: Int32, qemu: Int32, file: Int32)?
        if let path = request.archivePath {
            let (pen, vm) = try held.socketPair("archive")
            let file = try held.openNoFollow(path, O_WRONLY | O_CREAT | O_EXCL)
            archive = (pen, vm, file)
        }
        let signalFD = [SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH].withUnsafeBufferPointer {
            pen_signal_pipe($0.baseAddress, Int32($0.count))
        }
        guard signalFD >= 0 else { throw PenError.system("cannot install signal handlers") }

        // The files QEMU writes are opened first: a planted link fails the boot before anything starts.
        let bootLog = try held.openNoFollow(spec.bootLogPath, O_WRONLY | O_CREAT | O_TRUNC)
        let disk = try spec.diskPath.map { path throws(PenError) in try openDisk(path, held) }
        let network = try startNetwork(spec.network, held)
        let wiring = VMWiring(console: qemuConsole, control: qemuControl, archive: archive?.qemu, network: network,
                              bootLog: bootLog, disk: disk)
        let process = try ChildProcess.start(qemu.command(spec, wiring), logPath: spec.qemuLogPath,
                                             inheriting: wiring.descriptors + request.keepOpen)
        for fd in wiring.descriptors { held.close(fd) }  // QEMU holds its own copies now
        let execMicros = micros(Date().timeIntervalSince(started))
        writeAll(control, request.session.frames().flatMap { $0.encoded() })

        let terminal = request.interactive ? RawTerminal(fd: 0) : nil
        defer { terminal?.restore() }
        let channels = RelayChannels(control: control, console: console, archive: archive?.pen, archiveFile: archive?.file,
                                     signals: signalFD)
        let settings = RelaySettings(vmName: spec.name, bootLogPath: spec.bootLogPath, qemuLogPath: spec.qemuLogPath,
                                     diskPath: spec.diskPath, interactive: request.interactive,
                                     forwardInput: request.interactive || isatty(0) == 0,
                                     bootTimeout: request.bootTimeout, sessionTimeout: request.sessionTimeout)
        let output = request.output ?? { isError, bytes in writeAll(isError ? 2 : 1, bytes) }
        var relay = SessionRelay(channels: channels, settings: settings, process: process, output: output,
                                 message: message, windowSize: { RawTerminal.windowSize(fd: 0) })
        var outcome = try relay.run(started: started)
        outcome.stages.insert(StageTiming("pen_to_qemu_exec", execMicros), at: 0)
        return outcome
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

    /// passt gets one end of a socketpair and QEMU's network device the other; both die with pen.
    /// Returns QEMU's end (nil for slirp or no network).
    static func startNetwork(_ network: NetworkBackend, _ held: Descriptors) throws(PenError) -> Int32? {
        guard case .passt(let passt, let ports, let log) = network else { return nil }
        try SafeFiles.refuseSymlink(log)  // passt opens its log by path
        let (passtEnd, qemuEnd) = try held.socketPair("network")
        _ = try ChildProcess.start(passt.command(fd: passtEnd, publish: ports, logPath: log), logPath: log + ".out",
                                   inheriting: [passtEnd])
        held.close(passtEnd)
        return qemuEnd
    }
}
