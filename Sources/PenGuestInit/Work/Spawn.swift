// Starting a session's process: on pipes (stdin, stdout, stderr) or on a fresh pty that becomes
// its controlling terminal; always as the leader of its own session and process group, so a
// signal for the session reaches everything it started.
import CGuestSys
import Glibc
import PenIO
import PenWire

/// The descriptors init keeps for a started process (non-blocking, close-on-exec).
struct SpawnedProcess {
    var pid: pid_t
    /// Where its input goes: the stdin pipe, or the pty controller.
    var input: Int32
    /// Where its output comes from: stdout and stderr pipes, or the pty controller (once).
    var outputs: [(fd: Int32, kind: FrameKind)]
}

enum Spawn {
    static let stage = "session"

    /// Starts argv; on a pty of `terminal`'s size when given, else on pipes. `stdinFromNull`
    /// gives it /dev/null instead of an input pipe (the setup, the archive).
    static func start(_ argv: [String], environment: [String], directory: String, terminal: WindowSize?,
                      stdinFromNull: Bool = false) throws(InitFailure) -> SpawnedProcess {
        if let size = terminal {
            var controller: Int32 = -1, tty: Int32 = -1
            try sys(pen_open_pty(&controller, &tty, size.rows, size.cols), stage, "open a pty")
            defer { close(tty) }
            let pid = Processes.spawn(ChildSpec(argv: argv, environment: environment, stdin: tty, stdout: tty, stderr: tty,
                                                controllingTTY: tty, directory: directory))
            if pid < 0 { close(controller); throw .sys(stage, "spawn \(argv[0])") }
            return SpawnedProcess(pid: pid, input: controller, outputs: [(controller, .stdoutData)])
        }
        var input: [Int32] = [-1, -1], out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        if stdinFromNull {
            input[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)
        } else {
            try sys(pen_pipe_cloexec(&input), stage, "pipe")
        }
        try sys(pen_pipe_cloexec(&out), stage, "pipe")
        try sys(pen_pipe_cloexec(&err), stage, "pipe")
        let pid = Processes.spawn(ChildSpec(argv: argv, environment: environment, stdin: input[0], stdout: out[1],
                                            stderr: err[1], directory: directory))
        for fd in [input[0], out[1], err[1]] { close(fd) }
        if pid < 0 {
            for fd in [input[1], out[0], err[0]] where fd >= 0 { close(fd) }
            throw .sys(stage, "spawn \(argv[0])")
        }
        for fd in [input[1], out[0], err[0]] where fd >= 0 { setNonBlocking(fd) }
        return SpawnedProcess(pid: pid, input: input[1], outputs: [(out[0], .stdoutData), (err[0], .stderrData)])
    }
}
