// Starting QEMU and passt so that they can never outlive pen, and watching them through a
// pidfd, which turns readable when the process exits (no SIGCHLD bookkeeping, no pid reuse).
import Foundation
import CHostSys
import PenIO

/// A process the session relay watches and may kill: QEMU in pen, a pipe in the relay's tests.
public protocol VMProcess: AnyObject {
    /// Readable once the process has exited.
    var exitDescriptor: Int32 { get }
    /// The wait status once the process has exited (reaps it), nil while it runs.
    func exitStatus() -> Int32?
    func kill()
    /// CPU seconds the process has used (user and system), nil when unknown.
    var cpuSeconds: Double? { get }
    /// Waits up to `seconds`, then kills it. Returns the wait status.
    @discardableResult func wait(seconds: Double) -> Int32
}

public final class ChildProcess: VMProcess {
    public let pid: pid_t
    public let exitDescriptor: Int32
    private var status: Int32?

    private init(pid: pid_t) throws(PenError) {
        self.pid = pid
        exitDescriptor = pen_pidfd_open(pid)
        guard exitDescriptor >= 0 else {
            let err = pen_errno()
            Glibc.kill(pid, SIGKILL)
            throw PenError.system("cannot watch process \(pid)", err)
        }
    }

    /// Dropped while it runs (a restarted boot's passt, a supervisor's helpers at its end): it is
    /// killed and reaped, so no zombie stays behind.
    deinit {
        if exitStatus() == nil {
            _ = pen_pidfd_send_signal(exitDescriptor, SIGKILL)
            var s: Int32 = 0
            while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
        }
        close(exitDescriptor)
    }

    /// Starts argv with PR_SET_PDEATHSIG(SIGKILL) (see host_sys.c), stdin from /dev/null,
    /// stdout and stderr into logPath (opened without following a symlink), and the listed
    /// descriptors inherited, and `environment` (by default the helpers' minimal one); as `user`
    /// when given (pen is root). `confiningFileModes`: no setuid/setgid bits, no device nodes or
    /// FIFOs (host_sys.c), for a QEMU that shares a workspace. `executable`: a descriptor of the
    /// program to run instead of the path argv[0] (QEMU's execute-only copy).
    public static func start(_ argv: [String], logPath: String, inheriting fds: [Int32],
                             environment env: [String] = ChildEnvironment.helpers(from: Settings.current.environment),
                             as user: HostUser? = nil, confiningFileModes: Bool = false,
                             executing executable: Int32? = nil) throws(PenError) -> ChildProcess {
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(devNull) }
        let log = try SafeFiles.openNoFollow(logPath, O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(log) }
        let pid = withCStringArray(argv) { cargv in
            withCStringArray(env) { cenv in
                fds.withUnsafeBufferPointer { keep in
                    (user?.groups ?? []).withUnsafeBufferPointer { groups in
                        pen_spawn(cargv, cenv, devNull, log, log, keep.baseAddress, Int32(keep.count),
                                  user.map { Int32(bitPattern: $0.uid) } ?? -1, user.map { Int32(bitPattern: $0.gid) } ?? -1,
                                  groups.baseAddress, Int32(groups.count), confiningFileModes ? 1 : 0, executable ?? -1)
                    }
                }
            }
        }
        guard pid > 0 else { throw PenError.system("cannot start \(argv[0])") }
        return try ChildProcess(pid: pid)
    }

    public func exitStatus() -> Int32? {
        if let status { return status }
        var s: Int32 = 0
        if waitpid(pid, &s, WNOHANG) == pid { status = s }
        return status
    }

    public var cpuSeconds: Double? { ProcessCPU.seconds(pid: pid) }

    public func kill() {
        if status == nil { _ = pen_pidfd_send_signal(exitDescriptor, SIGKILL) }
    }

    @discardableResult
    public func wait(seconds: Double) -> Int32 {
        if let status { return status }
        var p = pollfd(fd: exitDescriptor, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(seconds)
        while exitStatus() == nil && Date() < deadline {
            _ = poll(&p, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
        }
        if let status { return status }
        kill()
        var s: Int32 = 0
        while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
        status = s
        return s
    }
}
