// Stages 4-5: the first-boot setup hook and the user's shell or command, with their
// output relayed to the host and every zombie reaped while they run.
import CGuestSys
import Glibc
import PenIO
import PenWire

final class Session {
    static var consoleDevice: String { GuestContract.consoleDevice }
    let channel: ControlChannel
    let config: SessionConfig
    let signals: Int32
    private var hostGone = false
    /// The process group of the running work, for the host's terminate request.
    private var currentChild: pid_t = -1
    private var terminateRequests = 0

    init(channel: ControlChannel, config: SessionConfig) throws(InitFailure) {
        self.channel = channel
        self.config = config
        signals = pen_signal_fd()
        if signals < 0 { throw .sys("session", "signalfd") }
    }

    var environment: [String] {
        var env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                   "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "LANG=C.UTF-8",
                   config.mode == .shell ? "TERM=linux" : "TERM=dumb"]
        for pair in config.environment {  // the host's values win over the defaults
            let key = pair.prefix { $0 != "=" }
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(pair)
        }
        return env
    }

    var workingDirectory: String { config.workspaceTag != nil ? Workspace.mountPoint : "/root" }

    // MARK: the work

    func runWork() throws(InitFailure) -> Int32 {
        switch config.mode {
        case .shell:
            return try runOnConsole(["bash", "--login"])
        case .command, .build:
            guard !config.arguments.isEmpty else { throw InitFailure("command", "no command given") }
            return try runPiped(config.arguments, stdoutKind: .stdoutData, stderrKind: .stderrData, forwardStdin: true)
        }
    }

    // MARK: first boot

    static var setupMarker: String { GuestContract.setupMarker }

    /// Runs the setup script once per VM. Returns its status, or nil when it did not run.
    func runSetupIfNeeded() throws(InitFailure) -> Int32? {
        guard let script = config.setupScript, !Files.exists(Self.setupMarker) else { return nil }
        let path = "/run/pen-setup.sh"
        try Files.write(path, script, mode: 0o700)
        defer { unlink(path) }
        channel.send(Frame(.setupStarted))
        // A script with its own #! line picks its interpreter; otherwise sh stops at the first error.
        let argv = script.hasPrefix("#!") ? [path] : ["/bin/sh", "-e", path]
        let status = config.mode == .shell
            ? try runOnConsole(argv)
            : try runPiped(argv, stdoutKind: .stderrData, stderrKind: .stderrData, forwardStdin: false)
        if status == 0 {
            try Files.makeParentDirectories(of: Self.setupMarker)
            try Files.write(Self.setupMarker, "")
        }
        channel.send(.status(.setupFinished, status))
        return status
    }

    // MARK: running children

    /// Runs argv on the console device as its controlling terminal (interactive use).
    func runOnConsole(_ argv: [String]) throws(InitFailure) -> Int32 {
        let tty = open(Self.consoleDevice, O_RDWR | O_NOCTTY | O_CLOEXEC)
        if tty < 0 { throw .sys("shell", "open \(Self.consoleDevice)") }
        defer { close(tty) }
        _ = pen_set_winsize(tty, config.windowSize.rows, config.windowSize.cols)
        let pid = Processes.spawn(ChildSpec(argv: argv, environment: environment, stdin: tty, stdout: tty,
                                            stderr: tty, controllingTTY: tty, directory: workingDirectory))
        if pid < 0 { throw .sys("shell", "spawn \(argv[0])") }
        currentChild = pid
        defer { currentChild = -1 }
        var status: Int32?
        var frames = channel.takePending()
        while status == nil {
            handleHostFrames(frames, stdinWriter: nil)
            frames = []
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: channel.fd, events: hostGone ? 0 : Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, -1) < 0 && errno != EINTR { throw .sys("shell", "poll") }
            if fds[0].revents != 0 { status = handleSignals(child: pid) ?? status }
            if fds[1].revents != 0 { frames = readHost() }
        }
        return status!
    }

    /// Runs argv with its stdout and stderr relayed to the host as frames. A `stdoutSink`
    /// takes stdout instead (false from it stops the relay of that stream).
    func runPiped(_ argv: [String], stdoutKind: FrameKind, stderrKind: FrameKind, forwardStdin: Bool,
                  stdoutSink: (([UInt8]) -> Bool)? = nil) throws(InitFailure) -> Int32 {
        let stage = "command"
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0], inPipe: [Int32] = [0, 0]
        try sys(pen_pipe_cloexec(&outPipe), stage, "pipe")
        try sys(pen_pipe_cloexec(&errPipe), stage, "pipe")
        if forwardStdin {
            try sys(pen_pipe_cloexec(&inPipe), stage, "pipe")
        } else {
            inPipe[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)
            inPipe[1] = -1
        }
        let pid = Processes.spawn(ChildSpec(argv: argv, environment: environment, stdin: inPipe[0],
                                            stdout: outPipe[1], stderr: errPipe[1], directory: workingDirectory))
        close(outPipe[1]); close(errPipe[1]); close(inPipe[0])
        if pid < 0 { throw .sys(stage, "spawn \(argv[0])") }
        currentChild = pid
        defer { currentChild = -1 }

        var readers: [(fd: Int32, kind: FrameKind)] = [(outPipe[0], stdoutKind), (errPipe[0], stderrKind)]
        var stdinWriter: Int32? = forwardStdin ? inPipe[1] : nil
        var status: Int32?
        var frames = channel.takePending()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            handleHostFrames(frames, stdinWriter: &stdinWriter)
            frames = []
            if status != nil && readers.isEmpty { break }
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: channel.fd, events: hostGone ? 0 : Int16(POLLIN), revents: 0)]
            fds += readers.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            // Once the command has exited, output still in flight is drained briefly; a
            // background process that keeps the pipe open must not hold the VM up.
            let ready = poll(&fds, nfds_t(fds.count), status == nil ? -1 : 100)
            if ready < 0 && errno != EINTR { throw .sys(stage, "poll") }
            if ready == 0 { break }
            if fds[0].revents != 0 { status = handleSignals(child: pid) ?? status }
            if fds[1].revents != 0 { frames = readHost() }
            var closed: [Int32] = []
            for (i, reader) in readers.enumerated() where fds[i + 2].revents != 0 {
                let n = read(reader.fd, &buffer, buffer.count)
                if n > 0 {
                    let chunk = Array(buffer[0..<n])
                    if reader.fd == outPipe[0], let sink = stdoutSink {
                        if !sink(chunk) { closed.append(reader.fd) }
                    } else {
                        channel.send(Frame(reader.kind, chunk))
                    }
                } else if n == 0 || errno != EINTR {
                    closed.append(reader.fd)
                }
            }
            for fd in closed { close(fd) }
            readers.removeAll { closed.contains($0.fd) }
        }
        for reader in readers { close(reader.fd) }
        if let w = stdinWriter { close(w) }
        return status!
    }

    private func readHost() -> [Frame] {
        do {
            if let frames = try channel.receive() { return frames }
        } catch {
            Console.log(error.line)
        }
        hostGone = true  // QEMU is going away; stop polling the port
        return []
    }

    private func handleHostFrames(_ frames: [Frame], stdinWriter: inout Int32?) {
        for frame in frames {
            switch frame.kind {
            case .stdinData:
                if let w = stdinWriter, !writeAll(w, frame.payload) { close(w); stdinWriter = nil }
            case .stdinClosed:
                if let w = stdinWriter { close(w); stdinWriter = nil }
            case .windowSize:
                if let size = try? frame.windowSize() {
                    let tty = open(Self.consoleDevice, O_RDWR | O_NOCTTY | O_CLOEXEC)
                    if tty >= 0 { _ = pen_set_winsize(tty, size.rows, size.cols); close(tty) }
                }
            case .terminate:
                // An interactive bash ignores SIGTERM but ends on SIGHUP; a second request kills.
                terminateRequests += 1
                let signal = terminateRequests > 1 ? SIGKILL : (config.mode == .shell ? SIGHUP : SIGTERM)
                if currentChild > 0 { kill(-currentChild, signal) }
            default:
                break
            }
        }
    }

    private func handleHostFrames(_ frames: [Frame], stdinWriter: Int32?) {
        var w = stdinWriter
        handleHostFrames(frames, stdinWriter: &w)
    }

    /// Drains the signalfd; reaps children. Returns the watched child's status once it exits.
    private func handleSignals(child: pid_t) -> Int32? {
        var status: Int32?
        while case let signal = pen_read_signal(signals), signal != 0 {
            if signal == SIGCHLD {
                if let s = Processes.reap(watching: child) { status = s }
            } else {
                kill(child, SIGTERM)  // a shutdown request reaches the work first
            }
        }
        if status == nil, let s = Processes.reap(watching: child) { status = s }
        return status
    }
}
