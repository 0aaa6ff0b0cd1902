// An IP address as its bits (IPv4 in 32, IPv6 in 128), parsed strictly from text: what a rule,
// a DNS answer or a guest's connection names is compared as numbers, never as text, so
// "010.0.0.1", "10.0.0.1 " or "::ffff:10.0.0.1" cannot pass for something they are not.
import Glibc

public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    /// The 128 bits as two halves, most significant first.
    case v6(UInt64, UInt64)

    /// Dotted decimal (four parts, 0–255, no leading zeros) or IPv6 text (inet_pton, no zone).
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 45, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
        if let v4 = Self.parseIPv4(text) {
            self = .v4(v4)
        } else if text.utf8.contains(UInt8(ascii: ":")), let v6 = Self.parseIPv6(text) {
            self = v6
        } else {
            return nil
        }
    }

    /// An IPv6 address from its 16 bytes, most significant first.
    public init(ipv6 bytes: [UInt8]) {
        precondition(bytes.count == 16)
        let half = { (range: Range<Int>) in bytes[range].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        self = .v6(half(0..<8), half(8..<16))
    }

    public var isIPv4: Bool { if case .v4 = self { true } else { false } }

    /// The number of bits (32 or 128).
    public var width: Int { isIPv4 ? 32 : 128 }

    public var description: String {
        switch self {
        case .v4(let n):
            return "\(n >> 24).\(n >> 16 & 0xff).\(n >> 8 & 0xff).\(n & 0xff)"
        case .v6(let hi, let lo):
            var bytes = (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * $0)) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &bytes, &text, socklen_t(text.count)) != nil else { return "?" }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    private static func parseIPv4(_ text: String) -> UInt32? {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part.count == 1 || part.first != UInt8(ascii: "0") else { return nil }
            let n = part.reduce(UInt32(0)) { $0 * 10 + UInt32($1 - 0x30) }
            guard n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    private static func parseIPv6(_ text: String) -> IPAddress? {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, text, &bytes) == 1 else { return nil }
        return IPAddress(ipv6: bytes)
    }
}
