// The `pen.net` port's frames: with the network policy, each TCP connection a guest program makes
// is a stream between the init (which accepted it through the redirect) and the supervisor
// (which decides, connects and relays), and each DNS query a query id. Same framing as `pen.ctl`;
// the payload starts with the stream (or query) id, 4 bytes big-endian.
//
// A stream: guest `netConnect` (its original destination) → host `netConnected` or `netRefused`;
// then `netData` both ways, each side sending at most `netWindow` bytes the other has not
// acknowledged (`netAck`, sent once the bytes were written on); `netClose` ends one direction;
// `netReset` ends both, from either side, and is not answered. The guest picks the ids of the
// streams it opens (below `inboundStreamBase`); the host's inbound streams (published ports,
// `netInbound`) use ids from `inboundStreamBase` up.

/// Bytes of one stream's data, per direction, that may be unacknowledged.
public let netWindow = 256 * 1024
/// At most this many streams open at once per VM; the host refuses a `netConnect` past it.
public let maxNetStreams = 256
/// Ids from here up are the host's (inbound streams).
public let inboundStreamBase: UInt32 = 0x8000_0000
/// A DNS message on the wire: what a query or an answer may hold.
public let maxDNSMessage = 4096
/// A refusal's reason, as the guest's log shows it.
public let maxRefusalReason = 200

/// Where a guest program tried to connect: its original destination before the redirect.
public struct NetDestination: Equatable, Hashable, Sendable {
    /// 4 or 16 bytes.
    public let address: [UInt8]
    public let port: UInt16

    public init?(address: [UInt8], port: UInt16) {
        guard address.count == 4 || address.count == 16 else { return nil }
        self.address = address
        self.port = port
    }

    /// Family byte (4 or 6), the address, the port (2 bytes big-endian).
    public func encoded() -> [UInt8] {
        [address.count == 4 ? 4 : 6] + address + [UInt8(port >> 8), UInt8(port & 0xff)]
    }

    public init(decoding bytes: ArraySlice<UInt8>) throws(WireError) {
        guard let family = bytes.first, family == 4 || family == 6 else { throw .badValue(.netConnect, "no address family") }
        let length = family == 4 ? 4 : 16
        guard bytes.count == 1 + length + 2 else { throw .badValue(.netConnect, "a destination of \(bytes.count) bytes") }
        let start = bytes.startIndex + 1
        let portAt = start + length
        address = Array(bytes[start..<portAt])
        port = UInt16(bytes[portAt]) << 8 | UInt16(bytes[portAt + 1])
    }
}

extension Frame {
    public static func netConnect(_ id: UInt32, _ destination: NetDestination) -> Frame {
        session(.netConnect, id, destination.encoded())
    }

    public static func netConnected(_ id: UInt32) -> Frame { session(.netConnected, id) }

    /// Why the host refused the stream: printable, at most `maxRefusalReason` bytes.
    public static func netRefused(_ id: UInt32, _ why: String) -> Frame {
        session(.netRefused, id, Array(why.utf8.prefix(maxRefusalReason)))
    }

    /// A stream's data, split into frames no larger than the limit.
    public static func netData(_ id: UInt32, _ bytes: ArraySlice<UInt8>) -> [Frame] {
        dataFrames(.netData, session: id, bytes)
    }

    public static func netAck(_ id: UInt32, _ bytes: UInt64) -> Frame {
        session(.netAck, id, count(.netAck, bytes).payload)
    }

    public static func netClose(_ id: UInt32) -> Frame { session(.netClose, id) }
    public static func netReset(_ id: UInt32) -> Frame { session(.netReset, id) }

    public static func dnsQuery(_ id: UInt32, _ message: ArraySlice<UInt8>) -> Frame { session(.dnsQuery, id, message) }
    public static func dnsAnswer(_ id: UInt32, _ message: [UInt8]) -> Frame { session(.dnsAnswer, id, message) }

    public static func netInbound(_ id: UInt32, port: UInt16) -> Frame { session(.netInbound, id, text: String(port)) }

    /// A `netConnect`'s destination.
    public func netDestination() throws(WireError) -> NetDestination {
        try NetDestination(decoding: payload[...])
    }

    /// A `netInbound`'s port.
    public func inboundPort() throws(WireError) -> UInt16 {
        guard let port = UInt16(text), port > 0 else { throw .badValue(kind, text) }
        return port
    }

    /// A DNS message (a `dnsQuery`'s or `dnsAnswer`'s body), at most `maxDNSMessage` bytes.
    public func dnsMessage() throws(WireError) -> [UInt8] {
        guard !payload.isEmpty, payload.count <= maxDNSMessage else { throw .badValue(kind, "a DNS message of \(payload.count) bytes") }
        return payload
    }
}
