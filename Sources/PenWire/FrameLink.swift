// One framed, non-blocking connection, the only one host and guest have: the control channel
// (supervisor ↔ guest init) and a client's socket (pen ↔ supervisor). Frames wait in a queue
// until the peer takes them; the bytes of session output that the peer has actually taken are
// counted, so the guest's window is only reopened for those. Glibc only: the static init uses it.
import Glibc
import PenIO

public final class FrameLink {
    public let fd: Int32
    private let ownsDescriptor: Bool
    private var decoder = FrameDecoder()
    private var outgoing = OutputQueue()
    /// The peer hung up or failed, or sent what is not a frame: nothing more is read or written.
    public private(set) var closed = false
    /// The errno of the read that failed, when one did (then the link is closed).
    public private(set) var readError: Int32?
    /// Output of guest sessions queued here, as (end offset in the stream, guest session, bytes).
    /// Taken from the front by moving `confirmedCount` on (compacted once that is half of it), so
    /// a flush costs what it confirms, not the whole queue.
    private var unconfirmed: [(end: UInt64, session: UInt32, bytes: Int)] = []
    private var confirmedCount = 0
    private var queued: UInt64 = 0
    private var written: UInt64 = 0

    /// Makes `fd` non-blocking; it is closed with the link unless `ownsDescriptor` is false (a
    /// connection handed on afterwards).
    public init(fd: Int32, ownsDescriptor: Bool = true) {
        self.fd = fd
        self.ownsDescriptor = ownsDescriptor
        setNonBlocking(fd)
    }

    deinit { if ownsDescriptor { close(fd) } }

    public var wantsWrite: Bool { !closed && !outgoing.isEmpty }
    public var queuedBytes: Int { outgoing.count }

    public func send(_ frame: Frame) {
        guard !closed else { return }
        let bytes = frame.encoded()
        queued += UInt64(bytes.count)
        outgoing.append(bytes)
    }

    public func send(_ frames: [Frame]) { frames.forEach(send) }

    /// Queues a frame carrying `bytes` of guest session `session`'s output: `flush` reports them once taken.
    public func send(_ frame: Frame, output session: UInt32, bytes: Int) {
        send(frame)
        unconfirmed.append((queued, session, bytes))
    }

    /// Every byte ever queued: a frame boundary when taken between sends.
    public var queuedTotal: UInt64 { queued }

    /// Forgets the frames queued after `boundary` (a `queuedTotal` taken earlier), keeping what
    /// came before it and is not written yet: a frame already begun is always finished, so the
    /// peer's framing never breaks (the guest after a resume: the dropped frames were about
    /// sessions of the supervisor that suspended it).
    public func dropQueued(after boundary: UInt64) {
        guard queued > boundary else { return }
        outgoing.keepFirst(boundary > written ? Int(boundary - written) : 0)
        unconfirmed.removeAll { $0.end > boundary }
        confirmedCount = min(confirmedCount, unconfirmed.count)
        queued = max(boundary, written)
    }

    /// Writes what the peer takes now; returns the session output it took, per guest session.
    @discardableResult
    public func flush() -> [UInt32: Int] {
        // A closed peer takes nothing more: what it was sent is confirmed below all the same, so
        // the guest's window reopens for output nobody will read.
        if !closed {
            let before = outgoing.count
            if !outgoing.flush(to: fd) { closed = true }
            written += UInt64(before - outgoing.count)
        }
        guard !unconfirmed.isEmpty else { return [:] }
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

    /// Reads what is there now (one read, into `buffer`) and returns the whole frames that
    /// arrived: none when nothing is readable (EAGAIN) or only part of a frame came; nil once
    /// the peer is gone (EOF or a failed read). A length over `maxFramePayload` or an unknown
    /// kind is refused: the link is closed and the error thrown.
    public func receive(_ buffer: inout [UInt8]) throws(WireError) -> [Frame]? {
        guard readOnce(&buffer) else { return nil }
        var frames: [Frame] = []
        while let frame = try decoded() { frames.append(frame) }
        return frames
    }

    /// Waits at most `millis` for the next whole frame; frames after it stay for the next call.
    /// Nil when none came in time or the peer is gone (`closed` tells which).
    public func next(within millis: Int, _ buffer: inout [UInt8]) throws(WireError) -> Frame? {
        let deadline = monotonicMillis() + millis
        while true {
            if let frame = try decoded() { return frame }
            let left = deadline - monotonicMillis()
            guard !closed, left > 0 else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(left, Int(Int32.max))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            guard readOnce(&buffer) else { return nil }
        }
    }

    public func markClosed() { closed = true }

    /// One read into the decoder; false once the peer is gone.
    private func readOnce(_ buffer: inout [UInt8]) -> Bool {
        guard !closed else { return false }
        let n = read(fd, &buffer, buffer.count)
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return true }
            readError = errno
            closed = true
            return false
        }
        if n == 0 {
            closed = true
            return false
        }
        decoder.feed(buffer[0..<n])
        return true
    }

    private func decoded() throws(WireError) -> Frame? {
        do { return try decoder.next() } catch {
            closed = true
            throw error
        }
    }
}

private func monotonicMillis() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}
