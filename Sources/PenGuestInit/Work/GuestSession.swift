// One session in the guest: its process group, its input (bounded by the host's window), its
// output (sent only while the host has window left, so a client that stops reading throttles
// its own session and nothing else), and its exit status once everything it wrote was sent.
import Glibc
import PenIO
import PenWire

final class GuestSession {
    let id: UInt32
    let request: SessionRequest
    private(set) var pid: pid_t = -1
    private(set) var input: Int32 = -1
    private(set) var outputs: [(fd: Int32, kind: FrameKind)] = []
    private var pendingInput = OutputQueue()
    private var inputClosedByHost = false
    /// Output sent and not yet acknowledged by the host.
    private var unacknowledged = 0
    private(set) var exitStatus: Int32?
    private var exitedAt: UInt64 = 0
    private var lastOutputAt: UInt64 = 0
    /// The client is gone: output is dropped rather than sent.
    private(set) var hungUp = false
    /// Where an archive session's stdout goes instead of frames.
    var archive: ArchiveSink?

    /// Output still arriving after the process exited is taken for this long; a background
    /// process that keeps the pipe open must not keep the session open.
    static let drainAfterExit: UInt64 = 100_000

    init(id: UInt32, request: SessionRequest) {
        self.id = id
        self.request = request
    }

    var isStarted: Bool { pid > 0 }
    var isTerminal: Bool { request.terminal != nil }

    func started(_ process: SpawnedProcess) {
        pid = process.pid
        input = process.input
        outputs = process.outputs
        lastOutputAt = monotonicMicroseconds()
        if let archive, let i = outputs.firstIndex(where: { $0.kind == .stdoutData }) {
            archive.source = outputs.remove(at: i).fd  // an archive's stdout goes to the archive port
        }
        if input < 0 { inputClosedByHost = true }
        flushInput(channel: nil)
    }

    /// Ended before it started (shutdown, a hang-up, a failed setup): no process, just a status.
    func endWithoutStarting(_ status: Int32) {
        exitStatus = status
        pendingInput = OutputQueue()
    }

    func exited(_ status: Int32) {
        exitStatus = status
        exitedAt = monotonicMicroseconds()
    }

    // MARK: input

    func queueInput(_ bytes: ArraySlice<UInt8>, channel: ControlChannel) {
        guard !inputClosedByHost else { return }
        pendingInput.append(bytes)
        if isStarted { flushInput(channel: channel) }
    }

    func closeInput(channel: ControlChannel) {
        inputClosedByHost = true
        if isStarted { flushInput(channel: channel) }
    }

    var wantsInputWrite: Bool { isStarted && input >= 0 && !pendingInput.isEmpty }

    /// Writes what the process can take now and tells the host how much went in.
    func flushInput(channel: ControlChannel?) {
        guard isStarted, input >= 0 else { return }
        let before = pendingInput.count
        let alive = pendingInput.flush(to: input)
        let written = before - pendingInput.count
        if written > 0 { channel?.send(.stdinAck(id, UInt64(written))) }
        if !alive {
            // The process closed its stdin: what was queued can never be written; free the host's window.
            if before - written > 0 { channel?.send(.stdinAck(id, UInt64(before - written))) }
            closeInputDescriptor()
        } else if inputClosedByHost && pendingInput.isEmpty {
            if isTerminal {
                writeAll(input, [4])  // a terminal has no end of file: ^D is the shell's
                inputClosedByHost = false
                pendingInput = OutputQueue()
                return
            }
            closeInputDescriptor()
        }
    }

    private func closeInputDescriptor() {
        if input >= 0 && !outputs.contains(where: { $0.fd == input }) { close(input) }
        input = -1
    }

    // MARK: output

    func acknowledge(_ count: Int) {
        unacknowledged = max(0, unacknowledged - count)
    }

    /// The output descriptors worth polling now: those with window left (the archive: room in its sink).
    var readableOutputs: [(fd: Int32, kind: FrameKind)] {
        var ready = hungUp || unacknowledged < sessionWindow ? outputs : []
        if let archive, archive.wantsInput { ready.append((archive.source, .stdoutData)) }
        return ready
    }

    /// Reads one chunk from `fd` and sends it on (or into the archive); closes it at its end.
    func readOutput(_ fd: Int32, kind: FrameKind, channel: ControlChannel) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let room = fd == archive?.source ? buffer.count : (hungUp ? buffer.count : min(buffer.count, sessionWindow - unacknowledged))
        guard room > 0 else { return }
        let n = read(fd, &buffer, room)
        if n > 0 {
            lastOutputAt = monotonicMicroseconds()
            if fd == archive?.source {
                archive?.take(buffer[0..<n])
            } else if !hungUp {
                channel.send(dataFrames(kind, session: id, buffer[0..<n]))
                unacknowledged += n
            }
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            // EOF on a pipe, or EIO on a pty controller once the terminal side is closed.
            closeOutput(fd)
        }
    }

    private func closeOutput(_ fd: Int32) {
        if fd == archive?.source {
            archive?.sourceEnded()
        } else {
            outputs.removeAll { $0.fd == fd }
        }
        if fd == input { input = -1 }
        close(fd)
    }

    // MARK: ending

    func hangUp() {
        hungUp = true
        signal(SIGHUP)
    }

    /// To the session's process group; to the process itself while that group does not exist
    /// yet: the child makes its own session (setsid) only after fork returned here, and a signal
    /// that came with the open (a stop held through the boot) can be sent before it has. Until
    /// then the child is alone (no children of its own), so it is the whole group to be.
    func signal(_ number: Int32) {
        guard isStarted && exitStatus == nil else { return }
        if kill(-pid, number) != 0 && errno == ESRCH { kill(pid, number) }
    }

    /// After the process exited: outputs idle for the drain time are closed (a background
    /// process keeps them open). Output held back for lack of window is not idle, and neither is
    /// an output with bytes (or its end) waiting to be read: a busy loop can reap the process
    /// and then not come back to its pipe within the drain time, and what it wrote before it
    /// exited must still be sent.
    func closeIdleOutputs(now: UInt64) {
        guard exitStatus != nil, isStarted, now - max(exitedAt, lastOutputAt) >= Self.drainAfterExit else { return }
        if !hungUp && unacknowledged >= sessionWindow { return }
        for output in outputs where !Self.hasSomethingToRead(output.fd) { closeOutput(output.fd) }
    }

    /// Whether a read of `fd` would return now (bytes, an end of file, an error) rather than wait.
    static func hasSomethingToRead(_ fd: Int32) -> Bool {
        var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&probe, 1, 0) > 0 && probe.revents != 0
    }

    /// Microseconds until closeIdleOutputs may have something to do (nil: nothing to wait for).
    func drainDeadline(now: UInt64) -> UInt64? {
        guard exitStatus != nil, isStarted, !outputs.isEmpty else { return nil }
        // Held back for lack of window: the host's acknowledgement wakes the loop, not a timer.
        if !hungUp && unacknowledged >= sessionWindow { return nil }
        let due = max(exitedAt, lastOutputAt) + Self.drainAfterExit
        return due > now ? due - now : 0
    }

    /// Exited, every output taken and (for an archive) every byte on the port.
    var isFinished: Bool {
        exitStatus != nil && outputs.isEmpty && (archive?.isComplete ?? true)
    }

    func closeAll() {
        for output in outputs { close(output.fd) }
        outputs = []
        closeInputDescriptor()
        archive?.close()
    }
}
