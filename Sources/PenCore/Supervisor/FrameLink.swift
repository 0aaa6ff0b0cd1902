// One framed, non-blocking connection: the control channel to the guest, or a client's socket.
// Frames wait in a queue until the peer takes them; the bytes of session output that the peer
// has actually taken are counted, so the guest's window is only reopened for those.
import Foundation
import PenIO
import PenWire

final class FrameLink {
    let fd: Int32
    private var decoder = FrameDecoder()
    private var outgoing = OutputQueue()
    /// The peer hung up or failed: nothing more is read or written.
    private(set) var closed = false
    /// Output of guest sessions queued here, as (end offset in the stream, guest session, bytes).
    /// Taken from the front by moving `confirmedCount` on (compacted once that is half of it), so
    /// a flush costs what it confirms, not the whole queue.
    private var unconfirmed: [(end: UInt64, session: UInt32, bytes: Int)] = []
    private var confirmedCount = 0
    private var queued: UInt64 = 0
    private var written: UInt64 = 0

    init(fd: Int32) {
        self.fd = fd
        setNonBlocking(fd)
    }

    deinit { close(fd) }

    var wantsWrite: Bool { !closed && !outgoing.isEmpty }
    var queuedBytes: Int { outgoing.count }

    func send(_ frame: Frame) {
        guard !closed else { return }
        let bytes = frame.encoded()
        queued += UInt64(bytes.count)
        outgoing.append(bytes)
    }

    /// Queues a frame carrying `bytes` of guest session `session`'s output: `flush` reports them once taken.
    func send(_ frame: Frame, output session: UInt32, bytes: Int) {
        send(frame)
        unconfirmed.append((queued, session, bytes))
    }

    /// Writes what the peer takes now; returns the session output it took, per guest session.
    @discardableResult
    func flush() -> [UInt32: Int] {
        // A closed peer takes nothing more: what it was sent is confirmed below all the same, so
        // the guest's window reopens for output nobody will read.
        if !closed {
            let before = outgoing.count
            if !outgoing.flush(to: fd) { closed = true }
            written += UInt64(before - outgoing.count)
        }
        var taken: [UInt32: Int] = [:]
        while confirmedCount < unconfirmed.count, unconfirmed[confirmedCount].end <= written || closed {
            let first = unconfirmed[confirmedCount]
            taken[first.session, default: 0] += first.bytes
            confirmedCount += 1
        }
        if confirmedCount == unconfirmed.count {
            unconfirmed.removeAll(keepingCapacity: true)
            confirmedCount = 0
        } else if confirmedCount >= 1024 && confirmedCount * 2 >= unconfirmed.count {
            unconfirmed.removeFirst(confirmedCount)
            confirmedCount = 0
        }
        return taken
    }

    /// The whole frames that arrived (none when nothing is readable); nil once the peer is gone.
    func receive(_ buffer: inout [UInt8]) throws(WireError) -> [Frame]? {
        guard !closed else { return nil }
        let n = read(fd, &buffer, buffer.count)
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return [] }
            closed = true
            return nil
        }
        if n == 0 {
            closed = true
            return nil
        }
        decoder.feed(buffer[0..<n])
        var frames: [Frame] = []
        while let frame = try decoder.next() { frames.append(frame) }
        return frames
    }

    func markClosed() { closed = true }
}
