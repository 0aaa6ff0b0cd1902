// An overlay disk that does not mount (a host crash mid-write, a guest that scribbled on its
// own block device) gets one `e2fsck -p` — the root image's own, run through the image's
// loader since the initramfs has no C library — the way a distribution's boot repairs its
// disks. The disk is never reformatted or replaced: what e2fsck cannot fix stays for the user.
import CGuestSys
import Glibc
import PenIO

enum DiskRepair {
    struct Outcome {
        /// e2fsck's exit status: 0 clean, 1 or 2 repaired, 4 and above not repaired.
        let status: Int32
        /// Its last lines (bounded), for the boot log and the user.
        let summary: String
        var repaired: Bool { status == 1 || status == 2 }
    }

    static let maxOutputBytes = 64 << 10
    /// Well inside the host's boot timeout: a repair that needs longer is for `pen vm fsck`.
    static let timeoutMillis: UInt64 = 60_000

    static func preen(_ device: String, root: String) -> Outcome {
        let libraries = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"].map { root + $0 }.joined(separator: ":")
        let argv = [root + "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "--library-path", libraries,
                    root + "/usr/sbin/e2fsck", "-p", device]
        var fds: [Int32] = [-1, -1]
        guard pen_pipe_cloexec(&fds) == 0 else { return Outcome(status: 8, summary: "cannot create a pipe") }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let pid = Processes.spawn(ChildSpec(argv: argv, environment: ["PATH=/usr/sbin:/usr/bin"],
                                            stdin: devNull, stdout: fds[1], stderr: fds[1]))
        close(fds[1])
        close(devNull)
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicMicroseconds() + timeoutMillis * 1000
        var timedOut = false
        while pid > 0 {  // ends when e2fsck exits (the pipe's only writer), or at the deadline
            let now = monotonicMicroseconds()
            guard now < deadline else {
                timedOut = true
                kill(pid, SIGKILL)
                break
            }
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            // Nothing (or a signal) yet: look at the clock again; a read only when there is data.
            if poll(&p, 1, Int32(min((deadline - now) / 1000 + 1, 1000))) <= 0 { continue }
            let n = read(fds[0], &chunk, chunk.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { break }
            if output.count < maxOutputBytes { output += chunk[0..<min(n, maxOutputBytes - output.count)] }
        }
        close(fds[0])
        guard pid > 0 else { return Outcome(status: 8, summary: "cannot start e2fsck") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut { return Outcome(status: 8, summary: "e2fsck -p did not finish within \(timeoutMillis / 1000) s") }
        let lines = String(decoding: output, as: UTF8.self).split(whereSeparator: \.isNewline).suffix(3)
        return Outcome(status: Processes.exitCode(fromWaitStatus: status), summary: lines.joined(separator: "; "))
    }
}
