// The client end of one session: the user's stdin, stdout and stderr (or terminal) on one
// side, the VM's supervisor socket on the other. Input is sent only within the window the
// guest has acknowledged, output waits in queues until the user's descriptors take it, and
// nothing is polled once it has ended, so the client never blocks against the VM and never
// spins after stdin's end.
import Foundation
import CHostSys
import PenIO
import PenWire

/// How a session meets the user.
public struct SessionIO: Equatable, Sendable {
    public var input: Int32 = 0
    public var output: Int32 = 1
    public var errors: Int32 = 2
    /// Forward input at all (a command with no stdin gets an immediate end of input).
    public var forwardInput = true
    /// The session is on a pty: the user's terminal goes raw and Ctrl-] q leaves.
    public var terminal = false

    public init(input: Int32 = 0, output: Int32 = 1, errors: Int32 = 2, forwardInput: Bool = true, terminal: Bool = false) {
        self.input = input
        self.output = output
        self.errors = errors
        self.forwardInput = forwardInput
        self.terminal = terminal
    }
}

public final class SessionClient {
    let link: FrameLink
    let vmName: String
    let io: SessionIO
    let message: (String) -> Void
    /// The input, the window, the stop signals, the session's end: changed only by `advance`.
    private var state: SessionClientState
    private var stdout = OutputQueue(), stderr = OutputQueue()
    private var escape = ConsoleEscape()
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    /// How long to wait, after the session's end, for a VM that stops with it to be down.
    static let stopWait = 60.0
    /// Takes the session's output instead of the user's stdout and stderr (isError, bytes).
    public var sink: ((Bool, [UInt8]) -> Void)?
    /// Past this, the session is given up (a build's time limit).
    public var deadline: Date?
    /// An archive session's byte count, as received by the supervisor.
    public private(set) var archiveBytes: UInt64?

    /// `fd` is a connection to the supervisor that said hello and sent the session's `open`.
    public init(connection fd: Int32, vmName: String, io: SessionIO, message: @escaping (String) -> Void) {
        link = FrameLink(fd: fd)
        self.vmName = vmName
        self.io = io
        self.message = message
        state = SessionClientState(vmName: vmName, forwardInput: io.forwardInput)
    }

    /// When the session's exit status (or a failure) arrived; the VM may still be stopping then.
    public var endedAt: Date? { state.endedAt }

    /// Relays until the session has ended (and its VM is down, when it stops with it); returns
    /// the session's exit status.
    public func run(diskPath: String?) throws(PenError) -> Int32 {
        signal(SIGPIPE, SIG_IGN)  // a reader that went away is an error on write, not a death
        let signals = try SignalPipe.shared()
        let terminal = io.terminal ? RawTerminal(fd: io.input) : nil
        defer { terminal?.restore() }
        state.initialEffects.forEach(perform)
        while !link.closed {
            if let endedAt, Date().timeIntervalSince(endedAt) > Self.stopWait { break }
            if let deadline, state.exitStatus == nil, Date() >= deadline {
                throw PenError("VM '\(vmName)' did not finish within its time limit")
            }
            let waitMillis = deadline.map { Int32(max(0, min(1, $0.timeIntervalSinceNow)) * 1000) + 1 } ?? -1
            pollOnce(signals: signals, timeout: endedAt == nil ? waitMillis : 1000)
        }
        let drainDeadline = Date().addingTimeInterval(Self.stopWait)
        drain(stdout, to: io.output, until: drainDeadline, signals: signals)
        drain(stderr, to: io.errors, until: drainDeadline, signals: signals)
        terminal?.restore()
        let leftByEscape = state.input == .left
        if leftByEscape { message((io.terminal ? "\r\n" : "") + "pen: \(state.vmStopping ? "stopping" : "left") VM '\(vmName)' (Ctrl-] q)") }
        if let failure = state.failure { throw failure }
        if let diskError = state.diskError { throw DiskWriteFailure.error(vm: vmName, disk: diskPath, reason: diskError) }
        if leftByEscape { return 130 }
        guard let exit = state.exitStatus else {
            throw PenError("VM '\(vmName)' stopped before the session ended", fix: "see `pen vm ls`; its boot log is in its directory")
        }
        return exit
    }

    private func pollOnce(signals: Int32, timeout: Int32) {
        let readInput = state.readsInput && inputRoom > 0 && link.queuedBytes < sessionWindow
        var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: link.fd, events: Int16(POLLIN) | (link.wantsWrite ? Int16(POLLOUT) : 0), revents: 0),
                   pollfd(fd: readInput ? io.input : -1, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stdout.isEmpty ? -1 : io.output, events: Int16(POLLOUT), revents: 0),
                   pollfd(fd: stderr.isEmpty ? -1 : io.errors, events: Int16(POLLOUT), revents: 0)]
        // A full stdout holds the socket back (the guest's window then throttles the session).
        if stdout.count > sessionWindow || stderr.count > sessionWindow { fds[1].events &= ~Int16(POLLIN) }
        if poll(&fds, nfds_t(fds.count), timeout) < 0 && errno != EINTR { return }
        if fds[0].revents != 0 { handleSignals(signals) }
        if fds[1].revents & Int16(POLLOUT) != 0 { link.flush() }
        if fds[1].revents & ~Int16(POLLOUT) != 0 { readSupervisor() }
        if fds[2].revents != 0 { readUserInput() }
        if fds[3].revents != 0 { writeOut(&stdout, to: io.output) }
        if fds[4].revents != 0 { writeOut(&stderr, to: io.errors) }
        link.flush()
    }

    /// What one read may take: the credit, less a Ctrl-] the escape holds back (the filter may
    /// release it in front of the next read's bytes, and input past the credit is refused).
    private var inputRoom: Int { state.credit - (io.terminal ? escape.held : 0) }

    private func readUserInput() {
        let n = read(io.input, &buffer, min(buffer.count, inputRoom))
        if n > 0 {
            var bytes = Array(buffer[0..<n])
            if io.terminal {
                // Ctrl-] q: leave the session now (its processes get SIGHUP).
                bytes = escape.filter(bytes, onStop: { advance(.escape) })
                if state.input == .left { return }
            }
            guard advance(.inputSent(bytes.count)) else { return }
            for frame in dataFrames(.stdinData, session: connectionSessionID, bytes[...]) { link.send(frame) }
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            advance(.inputEnded)
        }
    }

    /// Hands `event` to the state and sends what the transition asks for; whether it was taken.
    @discardableResult
    private func advance(_ event: SessionClientState.Event) -> Bool {
        guard let effects = state.advance(event) else { return false }
        effects.forEach(perform)
        return true
    }

    private func perform(_ effect: SessionClientState.Effect) {
        switch effect {
        case .sendStdinClosed: link.send(.stdinClosed(connectionSessionID))
        case .sendHangup: link.send(.hangup(connectionSessionID))
        case .sendSignal: link.send(.signal(connectionSessionID, io.terminal ? SIGHUP : SIGTERM))
        case .closeLink: link.markClosed()
        }
    }

    private func readSupervisor() {
        let frames: [Frame]?
        do { frames = try link.receive(&buffer) } catch {
            advance(.malformedFrame(PenError("VM '\(vmName)' supervisor sent a malformed frame", cause: error.description)))
            return
        }
        guard let frames else { return }
        for frame in frames { handle(frame) }
    }

    private func handle(_ frame: Frame) {
        let body = (try? frame.sessionBody())?.body
        switch frame.kind {
        case .stdoutData, .stderrData:
            guard let body else { return }
            if let sink { sink(frame.kind == .stderrData, body.payload) }
            else if frame.kind == .stdoutData { stdout.append(body.payload) } else { stderr.append(body.payload) }
        case .archiveEnd: archiveBytes = try? body?.count()
        case .stdinAck: if let n = try? body?.count() { advance(.inputAcknowledged(n)) }
        case .exitStatus: advance(.exitStatus((try? body?.status()) ?? 1))
        case .openFailed:
            advance(.openFailed(PenError("cannot start the session in VM '\(vmName)'", cause: body.map { GuestText.printable($0.payload) })))
        case .fatal: advance(.fatal(PenError(GuestText.printable(frame.payload))))
        case .stopping: advance(.vmStopping)
        case .suspended:
            // A forced `pen vm suspend`: the session's processes got SIGHUP, like a lost terminal's.
            advance(.fatal(PenError("VM '\(vmName)' was suspended", fix: "`pen shell \(vmName)` resumes it", exitCode: 128 + SIGHUP)))
        // The guest's word, shown as such: it cannot pass for pen's own finding about the host's disk.
        case .diskError: advance(.diskError("the VM reports: " + GuestText.printable(frame.payload, limit: 200)))
        case .notice: say(GuestText.printable(frame.payload))
        case .setupStarted: if !io.terminal { message("pen: running the first-boot setup") }
        case .setupFinished:
            if let status = try? frame.status(), status != 0 {
                say("setup failed with status \(status); it will run again on the next boot")
            }
        default: break
        }
    }

    private func say(_ text: String) {
        message((io.terminal ? "\r" : "") + "pen: " + text + (io.terminal ? "\r" : ""))
    }

    /// First stop request: the session's processes get it (a terminal's shell SIGHUP, a command
    /// SIGTERM). Second: leave the session.
    private func handleSignals(_ signals: Int32) {
        var byte: UInt8 = 0
        while read(signals, &byte, 1) == 1 {
            let signal = Int32(byte)
            if signal == SIGCHLD { continue }
            if signal == SIGWINCH {
                if let size = RawTerminal.windowSize(fd: io.input), io.terminal {
                    link.send(.windowSize(connectionSessionID, size))
                }
                continue
            }
            advance(.stopSignal)
        }
    }

    /// Writes what the user's descriptor takes without blocking: at most a pipe's atomic size
    /// when it is a pipe or socket (POLLOUT promises that much), more to a terminal or file.
    private func writeOut(_ queue: inout OutputQueue, to fd: Int32) {
        var chunk = queue.count
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFSOCK { chunk = min(chunk, 4096) }
        queue.flush(to: fd, limit: chunk)
    }

    /// What is still queued for the user once the session is over: written as the reader takes
    /// it (a pipeline's reader may be slow to start), until `deadline` or a stop signal.
    private func drain(_ queue: OutputQueue, to fd: Int32, until deadline: Date, signals: Int32) {
        var q = queue
        while !q.isEmpty {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return }
            var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0), pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, Int32(min(left, 1) * 1000) + 1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0, !SignalPipe.drainStops(signals).isEmpty { return }
            if fds[0].revents & Int16(POLLOUT) != 0 { writeOut(&q, to: fd) }
            else if fds[0].revents != 0 { return }  // the reader went away
        }
    }
}
