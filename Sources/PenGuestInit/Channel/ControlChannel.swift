// The guest end of the control channel: frames to and from pen over a virtio-serial port.
import Glibc
import PenIO
import PenWire

final class ControlChannel {
    static let stage = "control"
    let fd: Int32
    private var decoder = FrameDecoder()
    private var pending: [Frame] = []

    init() throws(InitFailure) {
        let path = try Devices.virtioPort(named: GuestContract.controlPort, stage: Self.stage)
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)
        if fd < 0 { throw .sys(Self.stage, "open \(path)") }
    }

    func send(_ frame: Frame) {
        writeAll(fd, frame.encoded())
    }

    func send(_ kind: FrameKind, _ text: String) {
        send(Frame(kind, text: text))
    }

    func send(_ frames: [Frame]) {
        writeAll(fd, frames.flatMap { $0.encoded() })
    }

    /// Reads whatever is available (blocking once) and returns the whole frames; nil at EOF.
    func receive() throws(InitFailure) -> [Frame]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        var n: Int
        repeat { n = read(fd, &buf, buf.count) } while n < 0 && errno == EINTR
        if n < 0 { throw .sys(Self.stage, "read") }
        if n == 0 { return nil }
        decoder.feed(buf[0..<n])
        var frames: [Frame] = []
        do {
            while let f = try decoder.next() { frames.append(f) }
        } catch {
            throw InitFailure(Self.stage, error.description)
        }
        return frames
    }

    /// Blocks until the host has sent the whole configuration.
    func readConfig() throws(InitFailure) -> SessionConfig {
        var assembler = SessionConfigAssembler()
        while true {
            guard let frames = try receive() else { throw InitFailure(Self.stage, "host closed the channel") }
            for (i, frame) in frames.enumerated() {
                let done: Bool
                do { done = try assembler.apply(frame) } catch { throw InitFailure(Self.stage, error.description) }
                if done {
                    pending = Array(frames[(i + 1)...])
                    return assembler.config
                }
            }
        }
    }

    /// Frames that arrived right after `start` (e.g. early stdin), handed to the work loop.
    func takePending() -> [Frame] {
        defer { pending = [] }
        return pending
    }

    /// Waits (bounded) for the host to acknowledge the exit status, so no frame is still
    /// inside QEMU when the machine powers off.
    func awaitGoodbye(timeoutMillis: Int32) {
        let deadline = monotonicMicroseconds() + UInt64(timeoutMillis) * 1000
        while monotonicMicroseconds() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32((deadline - min(deadline, monotonicMicroseconds())) / 1000)
            if poll(&p, 1, max(left, 1)) <= 0 { return }
            guard let frames = try? receive() else { return }
            if frames.contains(where: { $0.kind == .goodbye }) { return }
        }
    }
}
