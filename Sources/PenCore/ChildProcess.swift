// Starting QEMU so that it can never outlive pen.
import Foundation
import CHostSys

public struct ChildProcess {
    public let pid: pid_t

    /// Starts argv with PR_SET_PDEATHSIG(SIGKILL) (see host_sys.c), stdin from /dev/null,
    /// stdout and stderr into logPath, and the listed fds inherited.
    public static func start(_ argv: [String], logPath: String, inheriting fds: [Int32]) throws(PenError) -> ChildProcess {
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(devNull) }
        let log = try SafeFiles.openNoFollow(logPath, O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(log) }
        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let pid = withCStringArray(argv) { cargv in
            withCStringArray(env) { cenv in
                fds.withUnsafeBufferPointer { keep in
                    pen_spawn(cargv, cenv, devNull, log, log, keep.baseAddress, Int32(keep.count))
                }
            }
        }
        guard pid > 0 else { throw PenError.system("cannot start \(argv[0])") }
        return ChildProcess(pid: pid)
    }

    /// Non-blocking: the exit status once the process has ended.
    public func poll() -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        return r == pid ? status : nil
    }

    public func kill(_ signal: Int32 = SIGKILL) {
        Glibc.kill(pid, signal)
    }

    /// Waits up to `seconds`; kills it when the time is up. Returns the wait status.
    @discardableResult
    public func wait(seconds: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let s = poll() { return s }
            usleep(5000)
        }
        kill()
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }
}

func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { body($0) }
    }
}
