// Netlink messages built byte by byte, as the kernel reads them: a header (host byte order), a
// netfilter family header, and attributes (length, type, value padded to 4 bytes; a nested one
// holds attributes). Enough for an nftables batch, without libmnl in a static init.

/// Attributes in a netlink message; nftables' numbers travel big-endian.
struct NetlinkAttributes {
    private(set) var bytes: [UInt8] = []

    static let nested: UInt16 = 0x8000

    mutating func add(_ type: UInt16, _ value: [UInt8]) {
        let length = 4 + value.count
        bytes += Self.hostOrder16(UInt16(length)) + Self.hostOrder16(type) + value
        bytes += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    }

    mutating func add(_ type: UInt16, string: String) { add(type, Array(string.utf8) + [0]) }

    mutating func add(_ type: UInt16, bigEndian value: UInt32) {
        add(type, [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)])
    }

    mutating func nest(_ type: UInt16, _ build: (inout NetlinkAttributes) -> Void) {
        var inner = NetlinkAttributes()
        build(&inner)
        add(type | Self.nested, inner.bytes)
    }

    static func hostOrder16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func hostOrder32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * UInt32($0)) & 0xff) } }
}

enum NetlinkMessage {
    static let request: UInt16 = 0x1, ack: UInt16 = 0x4, create: UInt16 = 0x400, append: UInt16 = 0x800
    static let errorType: UInt16 = 2

    /// nlmsghdr + nfgenmsg + attributes. `resourceID` is big-endian on the wire.
    static func make(type: UInt16, flags: UInt16, sequence: UInt32, family: UInt8, resourceID: UInt16 = 0,
                     _ attributes: NetlinkAttributes = NetlinkAttributes()) -> [UInt8] {
        let length = UInt32(16 + 4 + attributes.bytes.count)
        return NetlinkAttributes.hostOrder32(length) + NetlinkAttributes.hostOrder16(type) + NetlinkAttributes.hostOrder16(flags)
            + NetlinkAttributes.hostOrder32(sequence) + [0, 0, 0, 0]
            + [family, 0, UInt8(resourceID >> 8), UInt8(resourceID & 0xff)] + attributes.bytes
    }
}
