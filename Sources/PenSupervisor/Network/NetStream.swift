// One guest connection the relay carries: its destination, the socket to it, the bytes waiting
// each way and the windows that bound them. Guest → upstream: what the guest sent and the relay
// has not yet written (at most `netWindow`, else the guest broke the window and the stream is
// reset); acknowledged once written. Upstream → guest: read only while the guest's unacknowledged
// bytes leave room in its window.
import Foundation
import PenCore
import PenIO
import PenWire

final class NetStream {
    let id: UInt32
    /// Where the guest asked to go (the gateway's address as the guest named it).
    let destination: NetDestination
    /// Where the host connects: the destination, or the host's loopback for the gateway.
    let target: IPAddress
    let names: [[UInt8]]
    var fd: Int32 = -1
    /// A published port's connection: the host accepted it, the guest connects (until it says
    /// so, `connectDeadline` is the guest's).
    var inbound = false
    var connectDeadline: Date?
    /// The guest was told `netConnected` (a later refusal is a reset).
    var announced = false
    /// The first bytes being read for a name (`allow` by name), else nil.
    var inspection: Inspection?
    var presented: [UInt8]?
    /// The one HTTP request a cleartext connection in `allow` by name may carry.
    var request: OneRequestGuard?
    /// A stream to port 53 answered by pen's DNS itself (no socket), else nil.
    var dns: DNSOverTCP?
    /// Guest bytes passed inspection, waiting for the upstream to take them.
    var toUpstream = UpstreamQueue()
    /// Guest bytes received and not yet acknowledged (inspected, queued or written since the last ack).
    var guestUnacked = 0
    /// Bytes written upstream and not yet acknowledged to the guest.
    var ackOwed = 0
    /// Bytes sent to the guest that it has not acknowledged.
    var hostUnacked = 0
    var guestClosed = false
    var upstreamShutDown = false
    var upstreamEnded = false
    var bytesUp: UInt64 = 0
    var bytesDown: UInt64 = 0
    let reason: String

    init(id: UInt32, destination: NetDestination, target: IPAddress, names: [[UInt8]], reason: String) {
        self.id = id
        self.destination = destination
        self.target = target
        self.names = names
        self.reason = reason
    }

    var connecting: Bool { connectDeadline != nil && !inbound }
    var connected: Bool { fd >= 0 && connectDeadline == nil }
    /// Both directions ended and nothing waits: the stream is done.
    var finished: Bool { upstreamEnded && guestClosed && upstreamShutDown }
    var wantsUpstreamRead: Bool { connected && !upstreamEnded && hostUnacked < netWindow }
    var wantsUpstreamWrite: Bool { connecting || (connected && !toUpstream.isEmpty) }

    func closeSocket() {
        if fd >= 0 { close(fd) }
        fd = -1
    }
}

/// The client's first bytes, read for the name it presents: bounded by `PresentedName.limit`,
/// with a deadline from its first byte, and parsed again only when it may have completed (a
/// line ended, a TLS record's length arrived) or grew by an eighth: a guest sending a byte at
/// a time costs O(n log n), not O(n²).
struct Inspection {
    /// How long a client that began may take to finish its hello or request head.
    static let deadline = 5.0

    var bytes: [UInt8] = []
    var until: Date?
    private var parsedAt = 0

    enum Outcome {
        case wait
        /// Judged: the name presented (nil: none) and the bytes read.
        case decided(name: [UInt8]?, bytes: [UInt8])
        case refused(String)
    }

    mutating func add(_ chunk: ArraySlice<UInt8>, now: Date) -> Outcome {
        // Only bytes start the clock: an empty frame must not turn "sent nothing" into "judged on nothing".
        guard !chunk.isEmpty else { return .wait }
        if until == nil { until = now.addingTimeInterval(Self.deadline) }
        bytes += chunk
        let mayBeComplete = parsedAt == 0 || bytes.count >= parsedAt + max(64, parsedAt / 8)
            || (bytes.first != 0x16 && chunk.contains(10))
            || (bytes.first == 0x16 && bytes.count >= 5 && bytes.count >= 5 + (Int(bytes[3]) << 8 | Int(bytes[4])) && parsedAt < 5 + (Int(bytes[3]) << 8 | Int(bytes[4])))
            || bytes.count >= PresentedName.limit
        return mayBeComplete ? judge(final: false) : .wait
    }

    /// At the deadline (or when the client closed): what arrived is judged as it is; a hello or
    /// head still incomplete is refused, a client that sent nothing presented no name.
    mutating func expire() -> Outcome {
        bytes.isEmpty ? .decided(name: nil, bytes: []) : judge(final: true)
    }

    private mutating func judge(final: Bool) -> Outcome {
        parsedAt = bytes.count
        switch PresentedName.read(bytes) {
        case .needMore:
            // A text line still open at the deadline that does not claim to be HTTP: another protocol.
            if final, bytes.first != 0x16, !PresentedName.claimsHTTP(bytes) { return .decided(name: nil, bytes: bytes) }
            return final ? .refused("its TLS hello or HTTP request head did not end within \(Int(Self.deadline)) s") : .wait
        case .name(let name): return .decided(name: name, bytes: bytes)
        case .none: return .decided(name: nil, bytes: bytes)
        case .unnamedTLS: return .refused("a TLS hello without a server name")
        case .malformed(let why): return .refused(why)
        }
    }
}

/// Guest bytes waiting for the upstream socket (at most a window of them). Written with
/// MSG_NOSIGNAL: a server that went away is an error to handle, not a SIGPIPE.
struct UpstreamQueue {
    private var buffer: [UInt8] = []
    private var offset = 0

    var isEmpty: Bool { offset == buffer.count }
    var count: Int { buffer.count - offset }

    mutating func append(_ bytes: some Collection<UInt8>) { buffer.append(contentsOf: bytes) }

    /// Writes what the socket takes now: the bytes written, or nil once the peer is gone.
    mutating func send(to fd: Int32) -> Int? {
        var written = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                return nil
            }
            offset += n
            written += n
        }
        if offset == buffer.count { buffer.removeAll(keepingCapacity: true); offset = 0 }
        else if offset >= buffer.count / 2 { buffer.removeFirst(offset); offset = 0 }
        return written
    }
}
