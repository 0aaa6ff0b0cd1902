// Child processes of PID 1: spawning, wait statuses, and reaping every zombie.
import CGuestSys
import Glibc
import PenIO

struct ChildSpec {
    var argv: [String]
    var environment: [String]
    var stdin: Int32
    var stdout: Int32
    var stderr: Int32
    var controllingTTY: Int32 = -1
    var directory = "/"
}

enum Processes {
    static func spawn(_ spec: ChildSpec) -> pid_t {
        withCStringArray(spec.argv) { argv in
            withCStringArray(spec.environment) { envp in
                pen_spawn_child(argv, envp, spec.stdin, spec.stdout, spec.stderr,
                                spec.controllingTTY, spec.directory)
            }
        }
    }

    /// A shell-style status: the exit code, or 128 + the signal that killed it.
    static func exitCode(fromWaitStatus status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Reaps every exited child: (pid, shell-style status) for each.
    static func reapAll() -> [(pid: pid_t, status: Int32)] {
        var reaped: [(pid_t, Int32)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return reaped }
            reaped.append((pid, exitCode(fromWaitStatus: status)))
        }
    }
}
