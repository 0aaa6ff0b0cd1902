// Sends one nftables batch (or, with `protocol`, other netlink messages: an interface's address)
// to the kernel and waits for every message's answer: the rules are in place, or the first
// error the kernel gave is thrown. The wait is bounded (a receive timeout).
import Glibc

enum NetfilterSocket {
    static let netlinkNetfilter: Int32 = 12, netlinkRoute: Int32 = 0

    /// Sends `messages` (each asking for an ack, sequence numbers 1…n) inside `batch` and reads
    /// their acks; returns nil, or the errno of the first refused message with its sequence.
    static func apply(_ batch: [UInt8], expecting count: Int, protocol: Int32 = netlinkNetfilter) -> (sequence: UInt32, errno: Int32)? {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), `protocol`)
        guard fd >= 0 else { return (0, errno) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // sockaddr_nl: family, pad, pid 0 (the kernel picks), groups 0.
        let address: [UInt8] = NetlinkAttributes.hostOrder16(UInt16(AF_NETLINK)) + [UInt8](repeating: 0, count: 10)
        let sent = address.withUnsafeBytes { addr in
            batch.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, addr.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12) }
        }
        guard sent == batch.count else { return (0, sent < 0 ? errno : EIO) }
        var acked = 0
        var buffer = [UInt8](repeating: 0, count: 16384)
        while acked < count {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return (0, n < 0 ? errno : EIO) }
            var offset = 0
            while offset + 20 <= n {
                let length = Int(le32(buffer, offset))
                guard length >= 16, offset + length <= n else { return (0, EPROTO) }
                if le16(buffer, offset + 4) == NetlinkMessage.errorType {
                    let code = Int32(bitPattern: le32(buffer, offset + 16))
                    if code != 0 { return (le32(buffer, offset + 8), -code) }
                    acked += 1
                }
                offset += (length + 3) & ~3
            }
        }
        return nil
    }

    private static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
    }

    private static func le16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
}
