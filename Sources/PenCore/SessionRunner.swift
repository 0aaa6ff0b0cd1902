// The host side of one boot: starts QEMU, sends the session over the control channel,
// relays the console or the command's output, and returns the guest's exit status.
import Foundation
import CHostSys
import PenWire

public struct SessionOutcome: Sendable {
    public var exitStatus: Int32
    public var setupStatus: Int32?
    /// Init's stage timings (name, microseconds) and pen's own.
    public var stages: [(name: String, micros: UInt64)]
    /// Build mode: the bytes of the root archive received.
    public var archiveBytes: UInt64 = 0
}

public struct SessionRequest {
    public var vm: VMConfig
    public var session: SessionConfig
    /// Attach the terminal to the guest console (shell mode).
    public var interactive: Bool
    public var qemuLogPath: String
    /// Fds QEMU inherits besides its sockets (the VM's lock).
    public var inheritedFDs: [Int32]
    public var bootTimeout: Double
    /// Whole-session limit (builds); nil: none.
    public var sessionTimeout: Double?
    /// Build mode: where the root archive from `pen.out` is written.
    public var archivePath: String?
    /// Receives the guest's stdout/stderr (isError, bytes); nil: pen's own stdout and stderr.
    public var output: ((Bool, [UInt8]) -> Void)?
    /// The network: passt (with the ports to publish and its log) or, when nil, QEMU's slirp.
    public var passt: (Passt, [PublishedPort], String)?

    public init(vm: VMConfig, session: SessionConfig, interactive: Bool, qemuLogPath: String,
                inheritedFDs: [Int32], bootTimeout: Double, sessionTimeout: Double? = nil,
                archivePath: String? = nil, output: ((Bool, [UInt8]) -> Void)? = nil,
                passt: (Passt, [PublishedPort], String)? = nil) {
        self.passt = passt
        self.sessionTimeout = sessionTimeout
        self.archivePath = archivePath
        self.output = output
        self.vm = vm
        self.session = session
        self.interactive = interactive
        self.qemuLogPath = qemuLogPath
        self.inheritedFDs = inheritedFDs
        self.bootTimeout = bootTimeout
    }
}

public final class SessionRunner {
    let hypervisor: Hypervisor
    let message: (String) -> Void

    public init(hypervisor: Hypervisor, message: @escaping (String) -> Void) {
        self.hypervisor = hypervisor
        self.message = message
    }

    public func run(_ request: SessionRequest) throws(PenError) -> SessionOutcome {
        signal(SIGPIPE, SIG_IGN)
        let started = Date()
        var control: [Int32] = [-1, -1], console: [Int32] = [-1, -1]
        guard pen_socketpair(&control) == 0, pen_socketpair(&console) == 0 else {
            throw PenError.system("cannot create the VM's channels")
        }
        var vm = request.vm
        vm.controlFD = control[1]
        vm.consoleFD = console[1]
        vm.networkFD = nil
        var archive: [Int32] = [-1, -1]
        var archiveFile: Int32 = -1
        if let path = request.archivePath {
            guard pen_socketpair(&archive) == 0 else { throw PenError.system("cannot create the archive channel") }
            archiveFile = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard archiveFile >= 0 else { throw PenError.system("cannot create \(path)") }
            vm.archiveFD = archive[1]
        }
        defer {
            if archive[0] >= 0 { close(archive[0]) }
            if archiveFile >= 0 { close(archiveFile) }
        }
        let signals = [SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH]
        let signalFD = signals.withUnsafeBufferPointer { pen_signal_pipe($0.baseAddress, Int32($0.count)) }
        guard signalFD >= 0 else { throw PenError.system("cannot install signal handlers") }

        // The files QEMU writes are opened first: a planted link fails the boot before anything starts.
        var files = VMFileHandles()
        defer { files.close() }
        try files.open(for: &vm)
        // passt gets one end of a socketpair, QEMU's network device the other; both die with pen.
        var network: [Int32] = [-1, -1]
        if let (passt, ports, log) = request.passt, vm.network {
            try SafeFiles.refuseSymlink(log)  // passt opens its log by path
            guard pen_socketpair(&network) == 0 else { throw PenError.system("cannot create the network channel") }
            _ = try ChildProcess.start(passt.command(fd: network[0], publish: ports, logPath: log), logPath: log + ".out",
                                       inheriting: [network[0]])
            close(network[0])
            vm.networkFD = network[1]
        }
        defer { if network[1] >= 0 { close(network[1]) } }
        let argv = try hypervisor.command(for: vm)
        let passed = [control[1], console[1]] + (archive[1] >= 0 ? [archive[1]] : []) + (network[1] >= 0 ? [network[1]] : [])
        let qemu = try ChildProcess.start(argv, logPath: request.qemuLogPath,
                                          inheriting: passed + files.fds + request.inheritedFDs)
        files.close()
        close(control[1])
        close(console[1])
        if archive[1] >= 0 { close(archive[1]) }
        defer {
            close(control[0])
            close(console[0])
        }
        let execMicros = UInt64(Date().timeIntervalSince(started) * 1_000_000)
        for frame in request.session.frames() { writeAll(control[0], frame.encoded()) }

        let terminal = request.interactive ? RawTerminal(fd: 0) : nil
        defer { terminal?.restore() }
        var relay = Relay(request: request, control: control[0], console: console[0], signalFD: signalFD,
                          qemu: qemu, message: message)
        relay.archive = archive[0]
        relay.archiveFile = archiveFile
        relay.forwardStdin = request.interactive || isatty(0) == 0
        let outcome = try relay.loop(started: started)
        terminal?.restore()
        var result = outcome
        result.stages.insert(("pen_to_qemu_exec", execMicros), at: 0)
        return result
    }
}

/// The poll loop of one session.
struct Relay {
    let request: SessionRequest
    let control: Int32
    let console: Int32
    let signalFD: Int32
    let qemu: ChildProcess
    let message: (String) -> Void
    var forwardStdin = false
    var archive: Int32 = -1
    var archiveFile: Int32 = -1
    private var archiveReceived: UInt64 = 0
    private var archiveExpected: UInt64?
    private var goodbyeDeferred = false

    private var decoder = FrameDecoder()
    private var ready = false
    private var exitStatus: Int32?
    private var setupStatus: Int32?
    private var fatal: String?
    /// The guest's report that some of its writes never reached the disk.
    private var diskError: String?
    private var stages: [(name: String, micros: UInt64)] = []
    private var qemuStatus: Int32?
    private var controlOpen = true
    private var consoleOpen = true
    private var stopRequests = 0
    /// A stop asked for before the guest was ready (a signal number), sent when it is.
    private var pendingTerminate: UInt8?
    private var finishedAt: Date?
    private var escape = ConsoleEscape()
    private var stoppedFromTerminal = false
    private var readyAt: Date?
    static let shutdownGrace = 20.0

    init(request: SessionRequest, control: Int32, console: Int32, signalFD: Int32, qemu: ChildProcess,
         message: @escaping (String) -> Void) {
        self.request = request
        self.control = control
        self.console = console
        self.signalFD = signalFD
        self.qemu = qemu
        self.message = message
    }

    mutating func loop(started: Date) throws(PenError) -> SessionOutcome {
        let bootDeadline = started.addingTimeInterval(request.bootTimeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var stdinOpen = forwardStdin
        if !forwardStdin { send(Frame(.stdinClosed)) }
        while qemuStatus == nil {
            var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: control, events: controlOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: console, events: consoleOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: 0, events: stdinOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: archive, events: archive >= 0 ? Int16(POLLIN) : 0, revents: 0)]
            if let limit = request.sessionTimeout, Date().timeIntervalSince(started) > limit {
                qemu.kill()
                qemu.wait(seconds: 5)
                throw PenError("VM '\(request.vm.name)' did not finish within \(Int(limit)) s; boot log: \(request.vm.bootLogPath)")
            }
            var timeout: Int32
            if !ready {
                timeout = Int32(max(0, bootDeadline.timeIntervalSinceNow) * 1000) + 1
            } else if let finished = finishedAt {
                // The guest reported its exit; give its shutdown a bounded time.
                let left = finished.addingTimeInterval(Self.shutdownGrace).timeIntervalSinceNow
                if left <= 0 {
                    message("pen: VM '\(request.vm.name)' did not power off within \(Int(Self.shutdownGrace)) s; stopping it")
                    qemu.kill()
                }
                timeout = Int32(max(0, left) * 1000) + 1
            } else {
                timeout = -1
            }
            if request.sessionTimeout != nil { timeout = timeout < 0 ? 1000 : min(timeout, 1000) }
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 && errno != EINTR { throw PenError.system("poll") }
            if !ready && Date() >= bootDeadline {
                qemu.kill()
                qemu.wait(seconds: 5)
                throw PenError("VM '\(request.vm.name)' did not boot within \(Int(request.bootTimeout)) s; boot log: \(request.vm.bootLogPath)")
            }
            if fds[0].revents != 0 { handleSignals() }
            if fds[1].revents != 0 {
                let got = read(control, &buffer, buffer.count)
                if got > 0 {
                    decoder.feed(buffer[0..<got])
                    try drainFrames()
                } else if got == 0 || errno != EINTR && errno != EAGAIN {
                    controlOpen = false
                }
            }
            if fds[2].revents != 0 {
                let got = read(console, &buffer, buffer.count)
                if got > 0 {
                    writeAll(1, Array(buffer[0..<got]))
                } else if got == 0 || errno != EINTR && errno != EAGAIN {
                    consoleOpen = false
                }
            }
            if fds[3].revents != 0 {
                let got = read(0, &buffer, buffer.count)
                if got > 0 {
                    let bytes = Array(buffer[0..<got])
                    if request.interactive {
                        writeAll(console, escape.filter(bytes, onStop: {
                            message("\r\npen: stopping VM '\(request.vm.name)' (Ctrl-] q)\r")
                            stoppedFromTerminal = true
                            qemu.kill()
                        }))
                    } else {
                        dataFrames(.stdinData, bytes).forEach { send($0) }
                    }
                } else if got == 0 || errno != EINTR && errno != EAGAIN {
                    stdinOpen = false
                    if !request.interactive { send(Frame(.stdinClosed)) }
                }
            }
            if fds[4].revents != 0 { try receiveArchive(&buffer) }
            if exitStatus != nil && qemuStatus == nil, let s = qemu.poll() { qemuStatus = s }
        }
        try drainAfterExit(&buffer)
        // pen's view of the boot: QEMU start to init ready, and the guest's exit report to QEMU gone.
        if let readyAt { stages.append(("qemu_start_to_ready", UInt64(readyAt.timeIntervalSince(started) * 1_000_000))) }
        if let finishedAt { stages.append(("exit_to_power_off", UInt64(Date().timeIntervalSince(finishedAt) * 1_000_000))) }
        if let fatal {
            throw PenError("guest init failed: \(fatal); boot log: \(request.vm.bootLogPath)")
        }
        if let diskError {
            throw DiskWriteFailure.error(vm: request.vm.name, disk: request.vm.diskPath, reason: diskError)
        }
        if stoppedFromTerminal && exitStatus == nil {
            return SessionOutcome(exitStatus: 130, setupStatus: setupStatus, stages: stages)
        }
        guard let status = exitStatus else {
            let why = lastLines(of: request.qemuLogPath, count: 3)
            throw PenError("VM '\(request.vm.name)' stopped before its session finished\(why.isEmpty ? "" : " (\(why))"); boot log: \(request.vm.bootLogPath)")
        }
        if let expected = archiveExpected, archiveReceived != expected {
            throw PenError("VM '\(request.vm.name)' sent \(archiveReceived) of \(expected) archive bytes; boot log: \(request.vm.bootLogPath)")
        }
        return SessionOutcome(exitStatus: status, setupStatus: setupStatus, stages: stages, archiveBytes: archiveReceived)
    }

    /// Copies what arrived on the archive port into the archive file.
    private mutating func receiveArchive(_ buffer: inout [UInt8]) throws(PenError) {
        let got = read(archive, &buffer, buffer.count)
        if got > 0 {
            guard writeAll(archiveFile, Array(buffer[0..<got])) else {
                qemu.kill()
                throw PenError.system("cannot write the build's root archive")
            }
            archiveReceived += UInt64(got)
            if goodbyeDeferred, let expected = archiveExpected, archiveReceived >= expected {
                goodbyeDeferred = false
                send(Frame(.goodbye))
            }
        } else if got == 0 {
            archive = -1
        }
    }

    /// The guest may power off once every frame and every announced archive byte is here.
    private mutating func sayGoodbye() {
        if let expected = archiveExpected, archiveReceived < expected {
            goodbyeDeferred = true
        } else {
            send(Frame(.goodbye))
        }
    }

    private func emit(_ isError: Bool, _ bytes: [UInt8]) {
        if let output = request.output { output(isError, bytes) } else { writeAll(isError ? 2 : 1, bytes) }
    }

    private func send(_ frame: Frame) {
        if controlOpen { writeAll(control, frame.encoded()) }
    }

    private mutating func handleSignals() {
        var byte: UInt8 = 0
        while read(signalFD, &byte, 1) == 1 {
            switch Int32(byte) {
            case SIGCHLD:
                if let s = qemu.poll() { qemuStatus = s }
            case SIGWINCH:
                if let size = RawTerminal.windowSize(fd: 0) { send(Frame(.windowSize, text: "\(size.rows) \(size.cols)")) }
            default:
                // First request: let the guest end its work and shut down cleanly. Second: pull the plug.
                stopRequests += 1
                if stopRequests == 1 && ready {
                    send(Frame(.terminate, text: String(byte)))
                } else if stopRequests == 1 {
                    // Still booting: the init cannot take the request yet; it gets it once ready.
                    pendingTerminate = byte
                } else {
                    qemu.kill()
                }
            }
        }
    }

    private mutating func drainFrames() throws(PenError) {
        while true {
            let frame: Frame?
            do { frame = try decoder.next() } catch { throw PenError(error.description) }
            guard let frame else { return }
            switch frame.kind {
            case .ready:
                ready = true
                readyAt = Date()
                if let signal = pendingTerminate {
                    pendingTerminate = nil
                    send(Frame(.terminate, text: String(signal)))
                }
            case .stdoutData: emit(false, frame.payload)
            case .stderrData: emit(true, frame.payload)
            case .archiveEnd: archiveExpected = UInt64(frame.text) ?? 0
            case .setupStarted:
                if !request.interactive { message("pen: running the first-boot setup") }
            case .setupFinished:
                let status = Int32(frame.text) ?? -1
                setupStatus = status
                if status != 0 {
                    message("pen: setup failed with status \(status); it will run again on the next boot")
                }
            case .stage:
                let parts = frame.text.split(separator: " ")
                if parts.count == 2, let micros = UInt64(parts[1]) { stages.append((String(parts[0]), micros)) }
            case .exitStatus:
                exitStatus = Int32(frame.text) ?? 1
                finishedAt = Date()
                sayGoodbye()
            case .fatal:
                fatal = frame.text
                send(Frame(.goodbye))
            case .notice: message("pen: " + frame.text)
            case .diskError: diskError = frame.text
            default: break
            }
        }
    }

    /// After QEMU exits: take what is still buffered in the sockets, and reap QEMU.
    private mutating func drainAfterExit(_ buffer: inout [UInt8]) throws(PenError) {
        for (fd, isControl) in [(control, true), (console, false)] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            while true {
                let got = read(fd, &buffer, buffer.count)
                if got <= 0 { break }
                if isControl {
                    decoder.feed(buffer[0..<got])
                    try drainFrames()
                } else {
                    writeAll(1, Array(buffer[0..<got]))
                }
            }
        }
        if archive >= 0 {
            _ = fcntl(archive, F_SETFL, fcntl(archive, F_GETFL) | O_NONBLOCK)
            while archive >= 0 {
                let before = archiveReceived
                try receiveArchive(&buffer)
                if archiveReceived == before { break }
            }
        }
        if qemuStatus == nil { qemuStatus = qemu.wait(seconds: 15) }
    }
}

/// The last lines of a text file joined with "; " (for one-line error messages).
func lastLines(of path: String, count: Int) -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
    return text.split(separator: "\n").suffix(count).joined(separator: "; ")
}

/// The console's way out of a hung guest: Ctrl-] then q stops the VM; Ctrl-] twice sends one Ctrl-].
struct ConsoleEscape {
    static let key: UInt8 = 0x1d  // Ctrl-]
    private var armed = false

    /// The bytes to pass to the guest; calls onStop when the sequence is typed.
    mutating func filter(_ bytes: [UInt8], onStop: () -> Void) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes {
            if armed {
                armed = false
                if b == UInt8(ascii: "q") || b == UInt8(ascii: "Q") {
                    onStop()
                    continue
                }
                out.append(Self.key)
                if b == Self.key { continue }
                out.append(b)
            } else if b == Self.key {
                armed = true
            } else {
                out.append(b)
            }
        }
        return out
    }
}
