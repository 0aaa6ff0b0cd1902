// The relay across a suspend. The session loop (another thread) asks it over a pipe to pause:
// every stream is reset (the supervisor that held their far ends is going away), what is queued
// for the port is written, and from then on nothing is read or sent, so no frame is cut in half
// by the save. On resume the port's leftovers (half a frame the old supervisor sent) are dropped
// and the framing starts afresh for the new supervisor's relay.
import CGuestSys
import Glibc
import PenIO
import PenWire

enum RelayPause {
    nonisolated(unsafe) private(set) static var commandFD: Int32 = -1
    nonisolated(unsafe) private static var commandWrite: Int32 = -1
    nonisolated(unsafe) private static var answerRead: Int32 = -1
    nonisolated(unsafe) private(set) static var answerWrite: Int32 = -1

    /// Before the relay's thread starts; false when the pipes could not be made.
    static func open() -> Bool {
        var commands: [Int32] = [-1, -1], answers: [Int32] = [-1, -1]
        guard pen_pipe_cloexec(&commands) == 0 else { return false }
        guard pen_pipe_cloexec(&answers) == 0 else { close(commands[0]); close(commands[1]); return false }
        (commandFD, commandWrite, answerRead, answerWrite) = (commands[0], commands[1], answers[0], answers[1])
        setNonBlocking(commandFD)  // read after poll said so, never waiting
        setNonBlocking(answerRead)  // drained of late answers without waiting
        return true
    }

    /// Asks the relay to go quiet and waits for it at most `millis`; true when quiet (or no relay
    /// runs). False: it did not answer, or could not write all it held (then it carries on);
    /// the caller sends `carryOn` either way, so a late pause never lasts.
    static func pause(millis: Int32) -> Bool {
        guard commandWrite >= 0 else { return true }
        var byte: UInt8 = 0
        while read(answerRead, &byte, 1) == 1 {}  // a late answer to an earlier pause (the pipe is non-blocking)
        byte = UInt8(ascii: "p")
        guard write(commandWrite, &byte, 1) == 1 else { return false }
        var p = pollfd(fd: answerRead, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, millis) == 1, read(answerRead, &byte, 1) == 1 else { return false }
        return byte == UInt8(ascii: "q")
    }

    /// The machine was saved (or the save failed) and runs again under a new host relay.
    static func resume() { command("r") }

    /// A pause that is abandoned: the relay carries on with its framing as it was.
    static func carryOn() { command("c") }

    private static func command(_ letter: Unicode.Scalar) {
        guard commandWrite >= 0 else { return }
        var byte = UInt8(ascii: letter)
        _ = write(commandWrite, &byte, 1)
    }
}

extension NetRelay {
    /// How long a pause may spend writing what is queued for the port.
    static let pauseFlushTime: UInt64 = 1_000_000  // µs

    func takePauseCommand() {
        var byte: UInt8 = 0
        guard read(RelayPause.commandFD, &byte, 1) == 1 else { return }
        switch byte {
        case UInt8(ascii: "p"): pause()
        case UInt8(ascii: "r"): if paused { resumeAfterSuspend() }
        case UInt8(ascii: "c"): paused = false
        default: break
        }
    }

    private func pause() {
        for stream in streams.values { NetSockets.closeWithReset(stream.fd) }
        streams = [:]
        queries = DNSQueries()
        let deadline = monotonicMicroseconds() + Self.pauseFlushTime
        while link.wantsWrite && !link.closed && monotonicMicroseconds() < deadline {
            link.flush()
            var p = pollfd(fd: link.fd, events: Int16(POLLOUT), revents: 0)
            if link.wantsWrite { _ = poll(&p, 1, 10) }
        }
        // Quiet only with nothing of a frame left to write: half a frame saved in the port would
        // break the next relay's framing. Otherwise it carries on and the suspend is refused.
        let quiet = !link.wantsWrite
        paused = quiet
        var answer = UInt8(ascii: quiet ? "q" : "n")
        _ = write(RelayPause.answerWrite, &answer, 1)
    }

    /// Paused: only the command pipe is watched (connections wait in the listeners' backlog).
    func waitWhilePaused() {
        var p = pollfd(fd: RelayPause.commandFD, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, -1) == 1 { takePauseCommand() }
    }

    private func resumeAfterSuspend() {
        var scratch = [UInt8](repeating: 0, count: 65536)
        while read(link.fd, &scratch, scratch.count) > 0 {}  // the port is non-blocking
        link = FrameLink(fd: link.fd, ownsDescriptor: false)
        paused = false
    }
}
