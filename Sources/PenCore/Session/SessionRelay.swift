// The poll loop of one session: relays the guest console to the terminal, the command's
// output frames to the caller and the user's input to the guest, turns stop requests into a
// clean guest shutdown, copies a builder VM's archive, and ends once QEMU has exited.
// It reaches the world only through the descriptors and closures it is given, so its unit
// tests play the guest and QEMU over socketpairs and pipes.
import Foundation
import PenIO
import PenWire

/// The descriptors a relay reads and writes (pen's ends).
struct RelayChannels: Sendable {
    var control: Int32
    var console: Int32
    /// A builder VM's archive port, and the file its bytes are copied to.
    var archive: Int32?
    var archiveFile: Int32?
    /// One byte per signal pen received (see pen_signal_pipe).
    var signals: Int32
    /// The user's input (stdin) and where the guest console's output goes (stdout).
    var input: Int32 = 0
    var terminal: Int32 = 1
}

struct RelaySettings: Sendable {
    var vmName: String
    var bootLogPath: String
    var qemuLogPath: String
    var diskPath: String?
    /// The terminal is attached to the guest console (shell mode).
    var interactive: Bool
    /// Input is forwarded to the guest (a terminal, or a pipe/file on stdin).
    var forwardInput: Bool
    var bootTimeout: Double
    /// Whole-session limit (builds); nil: none.
    var sessionTimeout: Double?
    /// How long the guest may take to power off after reporting its exit.
    var shutdownGrace: Double = 20
}

struct SessionRelay {
    /// A guest cannot make pen keep more stage timings than this.
    static let maxStages = 64

    let channels: RelayChannels
    let settings: RelaySettings
    let process: VMProcess
    let output: (_ isError: Bool, _ bytes: [UInt8]) -> Void
    let message: (String) -> Void
    let windowSize: () -> WindowSize?

    private var archive: Int32?
    private var archiveReceived: UInt64 = 0
    private var archiveExpected: UInt64?
    private var goodbyeDeferred = false
    private var decoder = FrameDecoder()
    private var ready = false
    private var readyAt: Date?
    private var exitStatus: Int32?
    private var finishedAt: Date?
    private var setupStatus: Int32?
    private var fatal: String?
    /// The guest's report that some of its writes never reached the disk.
    private var diskError: String?
    private var stages: [StageTiming] = []
    private var qemuStatus: Int32?
    private var controlOpen = true
    private var consoleOpen = true
    private var inputOpen: Bool
    private var stopRequests = 0
    /// A stop asked for before the guest was ready (a signal number), sent once it is.
    private var pendingTerminate: Int32?
    private var escape = ConsoleEscape()
    private var stoppedFromTerminal = false

    init(channels: RelayChannels, settings: RelaySettings, process: VMProcess,
                output: @escaping (_ isError: Bool, _ bytes: [UInt8]) -> Void,
                message: @escaping (String) -> Void, windowSize: @escaping () -> WindowSize? = { nil }) {
        self.channels = channels
        self.settings = settings
        self.process = process
        self.output = output
        self.message = message
        self.windowSize = windowSize
        archive = channels.archive
        inputOpen = settings.forwardInput
    }

    /// Relays until QEMU has exited; the session's outcome, or the error that ended it. On an
    /// error QEMU is killed before this returns.
    mutating func run(started: Date) throws(PenError) -> SessionOutcome {
        do {
            return try loop(started: started)
        } catch {
            if qemuStatus == nil { process.kill(); qemuStatus = process.wait(seconds: 5) }
            throw error
        }
    }

    private mutating func loop(started: Date) throws(PenError) -> SessionOutcome {
        let bootDeadline = started.addingTimeInterval(settings.bootTimeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        if !settings.forwardInput { send(Frame(.stdinClosed)) }
        while qemuStatus == nil {
            var fds = [pollfd(fd: channels.signals, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: channels.control, events: controlOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: channels.console, events: consoleOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: channels.input, events: inputOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: archive ?? -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: process.exitDescriptor, events: Int16(POLLIN), revents: 0)]
            if let limit = settings.sessionTimeout, Date().timeIntervalSince(started) > limit {
                throw PenError("VM '\(settings.vmName)' did not finish within \(Int(limit)) s", cause: nil,
                               fix: "boot log: \(settings.bootLogPath)")
            }
            let n = poll(&fds, nfds_t(fds.count), pollTimeout(bootDeadline: bootDeadline))
            if n < 0 && errno != EINTR { throw PenError.system("poll") }
            if !ready && Date() >= bootDeadline {
                throw PenError("VM '\(settings.vmName)' did not boot within \(Int(settings.bootTimeout)) s",
                               fix: "boot log: \(settings.bootLogPath)")
            }
            if fds[0].revents != 0 { handleSignals() }
            if fds[1].revents != 0 { try readControl(&buffer) }
            if fds[2].revents != 0 { readConsole(&buffer) }
            if fds[3].revents != 0 { readInput(&buffer) }
            if fds[4].revents != 0 { try receiveArchive(&buffer) }
            if fds[5].revents != 0, let status = process.exitStatus() { qemuStatus = status }
        }
        try drainAfterExit(&buffer)
        return try outcome(started: started)
    }

    /// Until ready: the boot deadline. After the guest's exit report: its shutdown grace (then
    /// QEMU is killed). A session timeout is checked at least once a second.
    private func pollTimeout(bootDeadline: Date) -> Int32 {
        var timeout: Int32 = -1
        if !ready {
            timeout = Int32(max(0, bootDeadline.timeIntervalSinceNow) * 1000) + 1
        } else if let finished = finishedAt {
            let left = finished.addingTimeInterval(settings.shutdownGrace).timeIntervalSinceNow
            if left <= 0 {
                message("pen: VM '\(settings.vmName)' did not power off within \(Int(settings.shutdownGrace)) s; stopping it")
                process.kill()
            }
            timeout = Int32(max(0, left) * 1000) + 1
        }
        if settings.sessionTimeout != nil { timeout = timeout < 0 ? 1000 : min(timeout, 1000) }
        return timeout
    }

    private func outcome(started: Date) throws(PenError) -> SessionOutcome {
        var stages = stages
        // pen's view of the boot: QEMU start to init ready, and the guest's exit report to QEMU gone.
        if let readyAt { stages.append(StageTiming("qemu_start_to_ready", micros(readyAt.timeIntervalSince(started)))) }
        if let finishedAt { stages.append(StageTiming("exit_to_power_off", micros(Date().timeIntervalSince(finishedAt)))) }
        if let fatal {
            throw PenError("guest init failed", cause: fatal, fix: "boot log: \(settings.bootLogPath)")
        }
        if let diskError {
            throw DiskWriteFailure.error(vm: settings.vmName, disk: settings.diskPath, reason: diskError)
        }
        if stoppedFromTerminal && exitStatus == nil {
            return SessionOutcome(exitStatus: 130, setupStatus: setupStatus, stages: stages)
        }
        guard let status = exitStatus else {
            let why = lastLines(of: settings.qemuLogPath, count: 3)
            throw PenError("VM '\(settings.vmName)' stopped before its session finished", cause: why.isEmpty ? nil : why,
                           fix: "boot log: \(settings.bootLogPath)")
        }
        if let expected = archiveExpected, archiveReceived != expected {
            throw PenError("VM '\(settings.vmName)' sent \(archiveReceived) of \(expected) archive bytes",
                           fix: "boot log: \(settings.bootLogPath)")
        }
        return SessionOutcome(exitStatus: status, setupStatus: setupStatus, stages: stages, archiveBytes: archiveReceived)
    }

    // MARK: reading

    private mutating func readControl(_ buffer: inout [UInt8]) throws(PenError) {
        let got = read(channels.control, &buffer, buffer.count)
        if got > 0 {
            decoder.feed(buffer[0..<got])
            try drainFrames()
        } else if got == 0 || errno != EINTR && errno != EAGAIN {
            controlOpen = false
        }
    }

    private mutating func readConsole(_ buffer: inout [UInt8]) {
        let got = read(channels.console, &buffer, buffer.count)
        if got > 0 {
            writeAll(channels.terminal, Array(buffer[0..<got]))
        } else if got == 0 || errno != EINTR && errno != EAGAIN {
            consoleOpen = false
        }
    }

    private mutating func readInput(_ buffer: inout [UInt8]) {
        let got = read(channels.input, &buffer, buffer.count)
        if got > 0 {
            let bytes = Array(buffer[0..<got])
            if settings.interactive {
                let filtered = escape.filter(bytes, onStop: {
                    message("\r\npen: stopping VM '\(settings.vmName)' (Ctrl-] q)\r")
                    stoppedFromTerminal = true
                    process.kill()
                })
                writeAll(channels.console, filtered)
            } else {
                dataFrames(.stdinData, bytes).forEach { send($0) }
            }
        } else if got == 0 || errno != EINTR && errno != EAGAIN {
            inputOpen = false
            if !settings.interactive { send(Frame(.stdinClosed)) }
        }
    }

    /// Copies what arrived on the archive port into the archive file.
    private mutating func receiveArchive(_ buffer: inout [UInt8]) throws(PenError) {
        guard let fd = archive else { return }
        let got = read(fd, &buffer, buffer.count)
        if got > 0 {
            guard let file = channels.archiveFile, writeAll(file, Array(buffer[0..<got])) else {
                throw PenError.system("cannot write the build's root archive")
            }
            archiveReceived += UInt64(got)
            if goodbyeDeferred, let expected = archiveExpected, archiveReceived >= expected {
                goodbyeDeferred = false
                send(Frame(.goodbye))
            }
        } else if got == 0 {
            archive = nil
        }
    }

    // MARK: the guest's frames

    private mutating func drainFrames() throws(PenError) {
        while true {
            let frame: Frame?
            do { frame = try decoder.next() } catch { throw PenError(error) }
            guard let frame else { return }
            do { try handle(frame) } catch { throw PenError("VM '\(settings.vmName)' sent a malformed frame", cause: error.description) }
        }
    }

    private mutating func handle(_ frame: Frame) throws(WireError) {
        switch frame.kind {
        case .ready:
            ready = true
            readyAt = Date()
            if let signal = pendingTerminate {
                pendingTerminate = nil
                send(.status(.terminate, signal))
            }
        case .stdoutData: output(false, frame.payload)
        case .stderrData: output(true, frame.payload)
        case .archiveEnd: archiveExpected = try frame.count()
        case .setupStarted:
            if !settings.interactive { message("pen: running the first-boot setup") }
        case .setupFinished:
            let status = try frame.status()
            setupStatus = status
            if status != 0 {
                message("pen: setup failed with status \(status); it will run again on the next boot")
            }
        case .stage:
            if stages.count < Self.maxStages { stages.append(try frame.stageTiming()) }
        case .exitStatus:
            exitStatus = try frame.status()
            finishedAt = Date()
            sayGoodbye()
        case .fatal:
            fatal = String(frame.text.prefix(500))
            send(Frame(.goodbye))
        case .notice: message("pen: " + String(frame.text.prefix(500)))
        case .diskError: diskError = String(frame.text.prefix(200))
        default: throw .unexpected(frame.kind)
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

    private func send(_ frame: Frame) {
        if controlOpen { writeAll(channels.control, frame.encoded()) }
    }

    private mutating func handleSignals() {
        var byte: UInt8 = 0
        while read(channels.signals, &byte, 1) == 1 {
            switch Int32(byte) {
            case SIGCHLD:
                break  // QEMU's exit is seen on its pidfd
            case SIGWINCH:
                if let size = windowSize() { send(.windowSize(size)) }
            default:
                // First request: let the guest end its work and shut down cleanly. Second: pull the plug.
                stopRequests += 1
                if stopRequests == 1 && ready {
                    send(.status(.terminate, Int32(byte)))
                } else if stopRequests == 1 {
                    // Still booting: the init cannot take the request yet; it gets it once ready.
                    pendingTerminate = Int32(byte)
                } else {
                    process.kill()
                }
            }
        }
    }

    /// After QEMU exits: take what is still buffered in the sockets.
    private mutating func drainAfterExit(_ buffer: inout [UInt8]) throws(PenError) {
        for fd in [channels.control, channels.console] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            while true {
                let got = read(fd, &buffer, buffer.count)
                if got <= 0 { break }
                if fd == channels.control {
                    decoder.feed(buffer[0..<got])
                    try drainFrames()
                } else {
                    writeAll(channels.terminal, Array(buffer[0..<got]))
                }
            }
        }
        if let fd = archive {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            while archive != nil {
                let before = archiveReceived
                try receiveArchive(&buffer)
                if archiveReceived == before { break }
            }
        }
    }
}

func micros(_ seconds: TimeInterval) -> UInt64 { UInt64(max(0, seconds) * 1_000_000) }
