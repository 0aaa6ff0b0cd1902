import Glibc
import PenTestSupport
import PenWire
import Testing
@testable import PenGuestInit

/// Starting a session's process as init does (fork, setsid, the descriptors, exec), here on
/// the host: its output on the right descriptors, its directory, its terminal, its status.
@Suite struct ChildProcessTests {
    let scratch = TemporaryDirectory.fresh("pen-guest-spawn")
    static let path = "PATH=/usr/bin:/bin"

    /// Everything `fd` (non-blocking) yields until its end (or until `marker` arrived), waiting
    /// at most 10 s in all.
    func readToEnd(_ fd: Int32, orUntil marker: String? = nil) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var waited = 0
        while waited < 10_000 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { waited += 100; continue }
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { break }  // EOF, or EIO on a pty whose terminal side closed
            bytes += chunk[0..<n]
            if let marker, String(decoding: bytes, as: UTF8.self).contains(marker) { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The child's shell-style status (this child only: other tests have children too).
    func statusOf(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Processes.exitCode(fromWaitStatus: status)
    }

    @Test func anExitCodeAndADeathBySignalAreToldApart() throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        func run(_ script: String) -> Int32 {
            let pid = Processes.spawn(ChildSpec(argv: ["sh", "-c", script], environment: [Self.path],
                                                stdin: null, stdout: null, stderr: null))
            return pid > 0 ? statusOf(pid) : -1
        }
        #expect(run("exit 0") == 0)
        #expect(run("exit 3") == 3)
        #expect(run("kill -TERM $$") == 128 + SIGTERM)
        #expect(run("kill -KILL $$") == 128 + SIGKILL)
    }

    @Test func aProgramThatDoesNotExistExitsWith127() {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let pid = Processes.spawn(ChildSpec(argv: ["no-such-program-pen"], environment: [Self.path],
                                            stdin: null, stdout: null, stderr: null))
        #expect(pid > 0)
        #expect(statusOf(pid) == 127)
    }

    @Test func onPipesStdoutAndStderrArriveApartInTheRequestedDirectoryAndEnvironment() throws {
        let process = try Spawn.start(["sh", "-c", "pwd; echo \"$GREETING\"; echo oops >&2; exit 7"],
                                      environment: [Self.path, "GREETING=hello"], directory: scratch.path, terminal: nil)
        #expect(process.outputs.map(\.kind) == [.stdoutData, .stderrData])
        close(process.input)
        let out = readToEnd(process.outputs[0].fd), err = readToEnd(process.outputs[1].fd)
        process.outputs.forEach { close($0.fd) }
        let directory = try #require(realpath(scratch.path, nil))
        defer { free(directory) }
        #expect(out == String(cString: directory) + "\nhello\n")
        #expect(err == "oops\n")
        #expect(statusOf(process.pid) == 7)
    }

    @Test func itsInputIsThePipeInitWritesTo() throws {
        let process = try Spawn.start(["cat"], environment: [Self.path], directory: "/", terminal: nil)
        #expect(write(process.input, "typed\n", 6) == 6)
        close(process.input)
        let out = readToEnd(process.outputs[0].fd)
        process.outputs.forEach { close($0.fd) }
        #expect(out == "typed\n")
        #expect(statusOf(process.pid) == 0)
    }

    @Test func withoutInputItReadsEndOfFile() throws {
        let process = try Spawn.start(["sh", "-c", "cat; echo done"], environment: [Self.path], directory: "/", terminal: nil,
                                      stdinFromNull: true)
        let out = readToEnd(process.outputs[0].fd)
        process.outputs.forEach { close($0.fd) }
        if process.input >= 0 { close(process.input) }
        #expect(out == "done\n")
        #expect(statusOf(process.pid) == 0)
    }

    /// A terminal session: one descriptor both ways, the terminal of the requested size as its
    /// controlling terminal, and the process the leader of its own session (a signal reaches all of it).
    @Test func onAPtyItLeadsItsOwnSessionWithTheRequestedSize() throws {
        let process = try Spawn.start(["sh", "-c", "stty size; read line; echo \"got $line\""], environment: [Self.path],
                                      directory: "/", terminal: WindowSize(rows: 33, cols: 101))
        #expect(process.outputs.count == 1)
        #expect(process.outputs.first?.fd == process.input)
        #expect(readToEnd(process.input, orUntil: "33 101\r\n").contains("33 101"))
        #expect(getsid(process.pid) == process.pid)  // running its script now, after setsid
        #expect(write(process.input, "yes\n", 4) == 4)
        let out = readToEnd(process.input)
        close(process.input)
        #expect(out.contains("got yes"))
        #expect(statusOf(process.pid) == 0)
    }
}
