// The guest end of the control channel: frames to and from pen over a virtio-serial port, on
// the shared FrameLink. Non-blocking both ways: frames wait in a queue until the port takes
// them, so init never blocks writing while the host may be busy writing to it.
import Glibc
import PenIO
import PenWire

final class ControlChannel {
    static let stage = "control"
    private let link: FrameLink
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init() throws(InitFailure) {
        let path = try Devices.virtioPort(named: GuestContract.controlPort, stage: Self.stage)
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        if fd < 0 { throw .sys(Self.stage, "open \(path)") }
        link = FrameLink(fd: fd)
    }

    var fd: Int32 { link.fd }
    /// QEMU closed the port (the host is going away): nothing more to read or write.
    var closed: Bool { link.closed }
    var wantsWrite: Bool { !paused && link.wantsWrite }
    /// While the machine is saved (after `suspendReady`, until `resumed`) nothing leaves: a frame
    /// the save cut in half would break the framing for the supervisor that resumes the VM.
    var paused = false

    func send(_ frame: Frame) {
        link.send(frame)
        flush()
    }

    func send(_ frames: [Frame]) {
        link.send(frames)
        flush()
    }

    func send(_ kind: FrameKind, _ text: String) {
        send(Frame(kind, text: text))
    }

    func flush() { if !paused { link.flush() } }

    /// Where the frames queued while paused begin (set when the channel pauses).
    private var pausedAt: UInt64 = 0

    func pause() {
        pausedAt = link.queuedTotal
        paused = true
    }

    /// After a resume: what was queued while the machine was saved is dropped (the frames were
    /// about sessions the new supervisor never heard of); anything from before the pause is kept.
    func resume() {
        link.dropQueued(after: pausedAt)
        paused = false
    }

    /// Writes everything queued, waiting for the port at most `millis`; true when nothing is left.
    func drain(millis: Int32) -> Bool {
        let deadline = monotonicMicroseconds() + UInt64(millis) * 1000
        while link.wantsWrite && !link.closed {
            let now = monotonicMicroseconds()
            guard now < deadline else { return false }
            link.flush()
            if link.wantsWrite { wait(millis: Int32(max(1, (deadline - now) / 1000))) }
        }
        return !link.wantsWrite
    }

    /// The whole frames that have arrived (none when nothing is readable); nil once the host is gone.
    func receive() throws(InitFailure) -> [Frame]? {
        let frames: [Frame]?
        do { frames = try link.receive(&buffer) } catch { throw InitFailure(Self.stage, error.description) }
        if frames == nil, let err = link.readError { throw .sys(Self.stage, "read", err) }
        return frames
    }

    /// Waits (at most `millis`) for the channel to be readable, or writable when frames wait.
    func wait(millis: Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0)
        _ = poll(&p, 1, millis)
    }

    /// Blocks until the host has sent the whole boot configuration; frames after `start` are returned too.
    func readConfig() throws(InitFailure) -> (BootConfig, [Frame]) {
        var assembler = BootConfigAssembler()
        while true {
            flush()  // what the port did not take yet (the snapshot point, above all)
            wait(millis: 1000)
            guard let frames = try receive() else { throw InitFailure(Self.stage, "host closed the channel") }
            for (i, frame) in frames.enumerated() {
                let done: Bool
                do { done = try assembler.apply(frame) } catch { throw InitFailure(Self.stage, error.description) }
                if done { return (assembler.config, Array(frames[(i + 1)...])) }
            }
        }
    }

    /// Sends `request` and waits (at most `timeoutMillis`) for a frame of kind `reply`; frames
    /// that came first are returned with it, in order.
    func ask(_ request: Frame, for reply: FrameKind, timeoutMillis: Int32) throws(InitFailure) -> (Frame, [Frame]) {
        send(request)
        var earlier: [Frame] = []
        let deadline = monotonicMicroseconds() + UInt64(timeoutMillis) * 1000
        while monotonicMicroseconds() < deadline {
            flush()
            wait(millis: Int32(max(1, (deadline - min(deadline, monotonicMicroseconds())) / 1000)))
            guard let frames = try receive() else { throw InitFailure(Self.stage, "host closed the channel") }
            for (i, frame) in frames.enumerated() where frame.kind == reply {
                return (frame, earlier + frames[..<i] + frames[(i + 1)...])
            }
            earlier += frames
        }
        throw InitFailure(Self.stage, "no \(reply) from the host within \(timeoutMillis / 1000) s")
    }

    /// Sends what is queued and waits (bounded) for the host's `goodbye`, so no frame is still
    /// inside QEMU when the machine powers off.
    func awaitGoodbye(timeoutMillis: Int32) {
        let deadline = monotonicMicroseconds() + UInt64(timeoutMillis) * 1000
        while monotonicMicroseconds() < deadline, !closed {
            flush()
            wait(millis: Int32(max(1, (deadline - min(deadline, monotonicMicroseconds())) / 1000)))
            guard let frames = try? receive() else { return }
            if frames.contains(where: { $0.kind == .goodbye }) { return }
        }
    }
}
