// One stream of the network policy's relay: a guest program's TCP connection (or a published
// port's, opened by the host) and its frames on `pen.net`. Each direction has the window: the
// socket is read only while fewer than `netWindow` bytes sent to the host are unacknowledged,
// and the host's bytes (at most a window of them) wait here until the socket takes them, then
// are acknowledged. An end of stream is a `netClose`, a failure a `netReset`.
import Glibc
import PenWire

final class NetStream {
    enum State: Equatable {
        /// The host's inbound stream: our connect to the published port is in progress.
        case connecting(deadline: UInt64)
        /// A guest program's connection, told to the host, not yet answered. Its first bytes
        /// are read and sent all the same (the host judges a TLS or HTTP name by them).
        case opening
        case open
    }

    /// The stream cannot go on (the socket failed, or the host broke the protocol): the relay
    /// resets it.
    struct Failed: Error {
        let why: String
    }

    let id: UInt32
    let fd: Int32
    /// Where a guest program connected (nil for an inbound stream).
    let destination: NetDestination?
    private(set) var state: State
    /// Bytes sent to the host that it has not acknowledged.
    private(set) var unacknowledged = 0
    /// The socket reached its end (a `netClose` was sent).
    private(set) var readClosed = false
    /// The host sent `netClose`: once its bytes are written, the socket is shut for writing.
    private(set) var hostClosed = false
    private(set) var writeShut = false
    /// The host's bytes not yet written to the socket, from `toSocketOffset`.
    private var toSocket: [UInt8] = []
    private var toSocketOffset = 0

    init(id: UInt32, fd: Int32, destination: NetDestination?, state: State) {
        self.id = id
        self.fd = fd
        self.destination = destination
        self.state = state
    }

    var pendingToSocket: Int { toSocket.count - toSocketOffset }
    var isConnecting: Bool { if case .connecting = state { true } else { false } }
    var wantsRead: Bool { !isConnecting && !readClosed && unacknowledged < netWindow }
    var wantsWrite: Bool { isConnecting || pendingToSocket > 0 }
    /// Both directions ended and everything was written: the socket can be closed.
    var isFinished: Bool { readClosed && writeShut }

    var connectDeadline: UInt64? { if case .connecting(let deadline) = state { deadline } else { nil } }

    /// The host answered `netConnected` to a guest program's stream.
    func connected() { if state == .opening { state = .open } }

    /// Our connect to a published port finished: the host is told it connected.
    func inboundConnected(link: FrameLink) {
        state = .open
        link.send(.netConnected(id))
    }

    /// Reads what the window allows now into `buffer` and sends it to the host; at the end of
    /// the stream sends `netClose`.
    func readSocket(_ buffer: inout [UInt8], link: FrameLink) throws(Failed) {
        guard wantsRead else { return }
        let room = min(buffer.count, netWindow - unacknowledged)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, room, 0) }
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            throw Failed(why: "read: errno \(errno)")
        }
        if n == 0 {
            readClosed = true
            link.send(.netClose(id))
            return
        }
        unacknowledged += n
        link.send(Frame.netData(id, buffer[0..<n]))
    }

    /// The host passed `count` of our bytes on.
    func acknowledge(_ count: UInt64) throws(Failed) {
        guard count <= UInt64(unacknowledged) else { throw Failed(why: "the host acknowledged \(count) of \(unacknowledged) bytes") }
        unacknowledged -= Int(count)
    }

    /// The host's bytes for the socket: queued and written as far as the socket takes them.
    func receive(_ bytes: ArraySlice<UInt8>, link: FrameLink) throws(Failed) {
        guard !hostClosed, !isConnecting else { throw Failed(why: "data after the host's close") }
        guard pendingToSocket + bytes.count <= netWindow else { throw Failed(why: "the host sent past its window") }
        toSocket.append(contentsOf: bytes)
        try flush(link: link)
    }

    /// The host sends nothing more: the socket is shut for writing once its bytes are written.
    func hostClose(link: FrameLink) throws(Failed) {
        hostClosed = true
        try flush(link: link)
    }

    /// Writes what the socket takes now and acknowledges it to the host.
    func flush(link: FrameLink) throws(Failed) {
        var written = 0
        while toSocketOffset < toSocket.count {
            let n = toSocket.withUnsafeBytes {
                send(fd, $0.baseAddress! + toSocketOffset, toSocket.count - toSocketOffset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                throw Failed(why: "write: errno \(errno)")
            }
            toSocketOffset += n
            written += n
        }
        if toSocketOffset == toSocket.count {
            toSocket.removeAll(keepingCapacity: toSocket.capacity <= 65536)  // idle streams hold no window's worth
            toSocketOffset = 0
        } else if toSocketOffset >= toSocket.count / 2 {
            toSocket.removeFirst(toSocketOffset)
            toSocketOffset = 0
        }
        if written > 0 { link.send(.netAck(id, UInt64(written))) }
        if hostClosed, !writeShut, pendingToSocket == 0 {
            writeShut = true
            if shutdown(fd, Int32(SHUT_WR)) != 0 && errno != ENOTCONN { throw Failed(why: "shutdown: errno \(errno)") }
        }
    }
}
