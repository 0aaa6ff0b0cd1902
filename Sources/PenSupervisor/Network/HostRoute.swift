// Whether the host reaches an address on its own networks: asked of the kernel for each
// connection (netlink RTM_GETROUTE), not from a list, since the host's addresses and LANs change
// and an IPv6 LAN's devices have global addresses. `public` (and a name in `allow`) reaches only
// what the host sends through a gateway; a local route (one of the host's own addresses) or a
// route without a gateway (a device on a link the host is on) is refused. If the kernel cannot
// be asked, the answer is a refusal: the check fails closed.
import Glibc
import PenCore

enum HostRoute {
    /// Why `address` is refused as the host's own network; nil when the host routes it through a gateway.
    static func refusal(for address: IPAddress) -> String? {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)  // NETLINK_ROUTE
        guard fd >= 0 else { return "cannot ask the kernel for a route: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = self.request(address)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            return "cannot ask the kernel for a route: \(String(cString: strerror(errno)))"
        }
        var reply = [UInt8](repeating: 0, count: 8192)
        let n = recv(fd, &reply, reply.count, 0)
        guard n >= 16 else { return "the kernel did not say how it routes \(address)" }
        return judge(Array(reply[0..<n]), address)
    }

    /// One RTM_GETROUTE for `address` (host byte order, as netlink wants).
    static func request(_ address: IPAddress) -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        let bytes = address.bytes
        let attribute = u16(UInt16(4 + bytes.count)) + u16(1) + bytes  // RTA_DST
        // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        let message = [UInt8(bytes.count == 4 ? AF_INET : AF_INET6), UInt8(bytes.count * 8), 0, 0, 0, 0, 0, 0] + u32(0) + attribute
        // nlmsghdr: length, RTM_GETROUTE (26), NLM_F_REQUEST, sequence, port id.
        return u32(UInt32(16 + message.count)) + u16(26) + u16(1) + u32(1) + u32(0) + message
    }

    /// The reply's verdict: RTM_NEWROUTE of type unicast through a gateway passes; anything else
    /// (local, broadcast, unreachable, no gateway, an error) is refused.
    static func judge(_ reply: [UInt8], _ address: IPAddress) -> String? {
        func u16(_ at: Int) -> Int { Int(reply[at]) | Int(reply[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        let type = u16(4)
        if type == 2, reply.count >= 20 {  // NLMSG_ERROR: a negative errno
            let code = Int32(truncatingIfNeeded: u32(16))
            return "no route to \(address) (\(String(cString: strerror(-code))))"
        }
        guard type == 24, reply.count >= 28 else { return "the kernel did not say how it routes \(address)" }  // RTM_NEWROUTE
        let length = min(u32(0), reply.count)
        switch reply[16 + 7] {  // rtm_type
        case 1: break  // RTN_UNICAST
        case 2: return "the host's own address"  // RTN_LOCAL
        default: return "not routed through a gateway (route type \(reply[16 + 7]))"
        }
        var at = 28
        while at + 4 <= length {
            let attributeLength = u16(at), attributeType = u16(at + 2)
            guard attributeLength >= 4 else { break }
            // RTA_GATEWAY, RTA_MULTIPATH (its hops name gateways), RTA_VIA.
            if attributeType == 5 || attributeType == 9 || attributeType == 18 { return nil }
            at += (attributeLength + 3) & ~3
        }
        return "on the host's own network (on-link)"
    }
}

extension IPAddress {
    /// The address as 4 or 16 bytes, most significant first.
    var bytes: [UInt8] {
        switch self {
        case .v4(let n): return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
        case .v6(let hi, let lo): return (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? hi : lo) >> (56 - 8 * UInt64(i % 8))) }
        }
    }

    /// The address a guest's destination bytes name.
    init?(destination bytes: [UInt8]) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        case 16: self.init(ipv6: bytes)
        default: return nil
        }
    }
}
