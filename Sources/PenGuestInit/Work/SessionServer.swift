// The work of a booted guest: one poll loop serving every session the host opens, the
// first-boot setup before the first session's work, and a clean halt when the host asks for
// it. Nothing here blocks: each session's input and output wait in bounded buffers, and the
// control channel's frames in a queue, so no session can stall another or the channel.
import CGuestSys
import Glibc
import PenWire

final class SessionServer {
    let channel: ControlChannel
    let config: BootConfig
    let signals: Int32
    var timer: StageTimer
    private var sessions: [UInt32: GuestSession] = [:]
    private var setup: FirstBootSetup
    private var shutdownRequests = 0
    private var shutdownDeadline: UInt64?
    /// Between `suspendReady` and `resumed`: the machine is being saved; no session is served.
    private var suspended = false
    /// A host that opens more sessions than this at once is refused (a bound on init's memory).
    static let maxSessions = 512
    /// After a shutdown request, sessions get this long before their processes are killed.
    static let shutdownGrace: UInt64 = 10_000_000

    init(channel: ControlChannel, config: BootConfig, timer: StageTimer) throws(InitFailure) {
        self.channel = channel
        self.config = config
        self.timer = timer
        signals = pen_signal_fd()
        if signals < 0 { throw .sys("session", "signalfd") }
        setup = FirstBootSetup(script: config.setupScript)
    }

    /// Serves until the host asks for a shutdown and every session has ended; then halts.
    func run(pending: [Frame]) -> Never {
        handle(pending)
        if let session = setup.start(environment: environment(for: SessionRequest(kind: .command, arguments: ["setup"])),
                                     directory: defaultDirectory, channel: channel) {
            sessions[setupSessionID] = session
        }
        while true {
            if shutdownRequests > 0 && sessions.isEmpty { halt() }
            pollOnce()
        }
    }

    // MARK: the loop

    private enum Source { case signals, channel, output(GuestSession, FrameKind), input(GuestSession), archive(GuestSession) }

    private func pollOnce() {
        var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: channel.closed ? -1 : channel.fd,
                          events: Int16(POLLIN) | (channel.wantsWrite ? Int16(POLLOUT) : 0), revents: 0)]
        var sources: [Source] = [.signals, .channel]
        for session in sessions.values where !suspended {
            for output in session.readableOutputs {
                fds.append(pollfd(fd: output.fd, events: Int16(POLLIN), revents: 0))
                sources.append(.output(session, output.kind))
            }
            if session.wantsInputWrite {
                fds.append(pollfd(fd: session.input, events: Int16(POLLOUT), revents: 0))
                sources.append(.input(session))
            }
            if let archive = session.archive, archive.wantsWrite {
                fds.append(pollfd(fd: archive.port, events: Int16(POLLOUT), revents: 0))
                sources.append(.archive(session))
            }
        }
        let ready = poll(&fds, nfds_t(fds.count), timeout())
        if ready < 0 && errno != EINTR { Console.log("pen-init: poll: errno \(errno)") }
        for (i, source) in sources.enumerated() where fds[i].revents != 0 {
            switch source {
            case .signals: handleSignals()
            case .channel:
                if fds[i].revents & Int16(POLLOUT) != 0 { channel.flush() }
                if fds[i].revents & ~Int16(POLLOUT) != 0 { readHost() }
            case .output(let session, let kind): session.readOutput(fds[i].fd, kind: kind, channel: channel)
            case .input(let session): session.flushInput(channel: channel)
            case .archive(let session): session.archive?.flush()
            }
        }
        finishSessions()
    }

    /// Sleep until something can happen: a session's drain time, the shutdown grace.
    private func timeout() -> Int32 {
        let now = monotonicMicroseconds()
        var wait: UInt64? = sessions.values.compactMap { $0.drainDeadline(now: now) }.min()
        if let deadline = shutdownDeadline { wait = min(wait ?? .max, deadline > now ? deadline - now : 0) }
        guard let wait else { return -1 }
        return Int32(min(wait / 1000 + 1, 60_000))
    }

    private func finishSessions() {
        let now = monotonicMicroseconds()
        if let deadline = shutdownDeadline, now >= deadline {
            for session in sessions.values { session.signal(SIGKILL) }
            shutdownDeadline = nil
        }
        for session in sessions.values {
            session.closeIdleOutputs(now: now)
            guard session.isFinished, let status = session.exitStatus else { continue }
            session.closeAll()
            sessions[session.id] = nil
            if session.id == setupSessionID {
                setup.finished(status, channel: channel, timer: &timer)
                startWaitingSessions()
            } else {
                if let archive = session.archive { channel.send(.archiveEnd(session.id, UInt64(archive.bytes))) }
                channel.send(.exitStatus(session.id, status))
            }
        }
    }

    // MARK: the host's frames

    private func readHost() {
        do {
            guard let frames = try channel.receive() else { return }
            handle(frames)
        } catch {
            Console.log(error.line)
        }
    }

    private func handle(_ frames: [Frame]) {
        for frame in frames {
            do { try handle(frame) } catch { Console.log("pen-init: control: \(error.description)") }
        }
    }

    private func handle(_ frame: Frame) throws(WireError) {
        switch frame.kind {
        case .shutdown: beginShutdown()
        case .goodbye: break
        case .suspend: prepareSuspend(force: frame.text == "force")
        case .resumed: resume(try frame.freshness(), newSupervisor: true)
        case .carryOn: resume(try frame.freshness(), newSupervisor: false)
        case .open:
            let (id, body) = try frame.sessionBody()
            open(id, try SessionRequest(decoding: body.payload[...]))
        default:
            let (id, body) = try frame.sessionBody()
            guard let session = sessions[id] else { return }  // a session that just ended
            switch frame.kind {
            case .stdinData: session.queueInput(body.payload[...], channel: channel)
            case .stdinClosed: session.closeInput(channel: channel)
            case .outputAck: session.acknowledge(Int(clamping: try body.count()))
            case .windowSize:
                let size = try body.windowSize()
                if session.isTerminal, session.input >= 0 { _ = pen_set_winsize(session.input, size.rows, size.cols) }
            case .signal:
                let number = try body.status()
                guard (1...64).contains(number) else { throw .badValue(.signal, body.text) }
                if session.isStarted { session.signal(number) } else { session.endWithoutStarting(128 + number) }
            case .hangup:
                if session.isStarted { session.hangUp() } else { session.endWithoutStarting(128 + SIGHUP) }
            default: throw .unexpected(frame.kind)
            }
        }
    }

    /// `suspend`: /workspace released and the disk frozen (Suspension), the relay quiet, then
    /// `suspendReady`, and nothing leaves until `resumed`; or `suspendRefused` and nothing changed.
    private func prepareSuspend(force: Bool) {
        guard !suspended, shutdownRequests == 0 else { return channel.send(.suspendRefused, "the VM is shutting down") }
        guard !setup.isRunning else { return channel.send(.suspendRefused, "its first-boot setup is still running; try again once it is done") }
        // Everything said so far reaches the host first (the port takes it), or nothing is frozen.
        guard channel.drain(millis: 2000) else { return channel.send(.suspendRefused, "the control channel is backed up") }
        if let refusal = Suspension.prepare(workspaceTag: config.workspaceTag, force: force) {
            return channel.send(.suspendRefused, refusal)
        }
        guard RelayPause.pause(millis: 2000) else {
            RelayPause.carryOn()
            _ = Suspension.resume(workspaceTag: config.workspaceTag)
            return channel.send(.suspendRefused, "the network relay did not go quiet")
        }
        channel.send(Frame(.suspendReady))
        _ = channel.drain(millis: 2000)  // a frame begun is finished after the resume, whatever happens
        channel.pause()
        suspended = true
    }

    /// `resumed` (a new supervisor) or `carryOn` (the same one, the save failed): the clock and
    /// entropy are the host's, the disk thaws, /workspace is back, and the relay starts afresh;
    /// then `ready`, as after a boot.
    private func resume(_ fresh: Freshness, newSupervisor: Bool) {
        guard suspended else { return }
        suspended = false
        if newSupervisor {
            channel.resume()
            // Sessions from before the suspend belong to a supervisor that is gone: their ids would
            // meet the new one's. Their processes are hung up (as on a lost terminal) and forgotten;
            // those that detach (nohup, setsid, a tmux server) carry on, and are reaped as orphans.
            for session in sessions.values {
                session.signal(SIGHUP)
                session.closeAll()
            }
            sessions = [:]
        } else {
            channel.paused = false  // everything queued is for this supervisor still
        }
        do { try FreshStart.set(fresh) } catch { Console.log(error.line) }
        if let problem = Suspension.resume(workspaceTag: config.workspaceTag) { channel.send(.notice, problem) }
        RelayPause.resume()
        channel.send(Frame(.ready))
    }

    private func open(_ id: UInt32, _ request: SessionRequest) {
        guard id != setupSessionID, sessions[id] == nil else {
            return channel.send(.openFailed(id, "session id \(id) is in use"))
        }
        guard shutdownRequests == 0 else { return channel.send(.openFailed(id, "the VM is shutting down")) }
        guard sessions.count < Self.maxSessions else {
            return channel.send(.openFailed(id, "too many sessions (\(Self.maxSessions))"))
        }
        let session = GuestSession(id: id, request: request)
        sessions[id] = session
        if !setup.isRunning { start(session) }  // else it waits: its input is kept until then
    }

    /// The setup is done: the sessions that waited for it start, or end with its failure
    /// (a command depends on its setup; an interactive shell still opens so the user can look).
    private func startWaitingSessions() {
        for session in sessions.values where !session.isStarted && session.exitStatus == nil {
            if let failed = setup.status, failed != 0, session.request.kind == .command {
                session.endWithoutStarting(failed)
            } else {
                start(session)
            }
        }
    }

    private func start(_ session: GuestSession) {
        let request = session.request
        let directory = request.directory ?? defaultDirectory
        guard Files.isDirectory(directory) else {
            sessions[session.id] = nil
            return channel.send(.openFailed(session.id, "no such directory in the VM: \(directory)"))
        }
        do throws(InitFailure) {
            let argv: [String]
            switch request.kind {
            case .command: argv = request.arguments
            case .shell: argv = ["bash", "--login"]
            case .archive:
                session.archive = try ArchiveSink()
                argv = ArchiveSink.command
            }
            session.started(try Spawn.start(argv, environment: environment(for: request), directory: directory,
                                            terminal: request.terminal, stdinFromNull: request.kind == .archive))
        } catch {
            sessions[session.id] = nil
            channel.send(.openFailed(session.id, error.message))
        }
    }

    // MARK: processes and signals

    private func handleSignals() {
        while case let signal = pen_read_signal(signals), signal != 0 {
            if signal != SIGCHLD { beginShutdown() }  // SIGTERM, SIGINT, SIGPWR from the kernel
        }
        for (pid, status) in Processes.reapAll() {
            if let session = sessions.values.first(where: { $0.pid == pid }) { session.exited(status) }
        }
    }

    /// First request: every session gets its signal (a terminal's shell SIGHUP, a command SIGTERM);
    /// a second request, or the grace running out, kills them.
    private func beginShutdown() {
        shutdownRequests += 1
        shutdownDeadline = monotonicMicroseconds() + (shutdownRequests > 1 ? 0 : Self.shutdownGrace)
        for session in sessions.values {
            if !session.isStarted {
                if session.id != setupSessionID { session.endWithoutStarting(128 + SIGTERM) }
            } else {
                session.signal(shutdownRequests > 1 ? SIGKILL : (session.isTerminal ? SIGHUP : SIGTERM))
            }
        }
    }

    /// Every session has ended: report what the disk lost, then power off once the host has it all.
    private func halt() -> Never {
        if let error = DiskHealth.flushErrors() { channel.send(.diskError, error) }
        channel.send(Frame(.halted))
        channel.awaitGoodbye(timeoutMillis: 2000)
        Shutdown.run(signals: signals)
    }

    // MARK: environment

    var defaultDirectory: String { config.workspaceTag != nil ? GuestContract.workspaceMountPoint : "/root" }

    func environment(for request: SessionRequest) -> [String] {
        SessionEnvironment.build(for: request)
    }
}
