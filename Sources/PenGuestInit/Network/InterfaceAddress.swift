// An IPv6 address on an interface, by rtnetlink (RTM_NEWADDR) rather than the ioctl, so it can
// say "no duplicate address detection": the address is usable at once, never tentative, on any
// device (dummy0 does none anyway; this does not depend on it).
import Glibc

enum InterfaceAddress {
    private static let newAddress: UInt16 = 20  // RTM_NEWADDR
    private static let exclusive: UInt16 = 0x200  // NLM_F_EXCL
    private static let noDAD: UInt8 = 0x02  // IFA_F_NODAD
    private static let addressAttribute: UInt16 = 1, localAttribute: UInt16 = 2, flagsAttribute: UInt16 = 8

    /// The message: nlmsghdr, ifaddrmsg (family, prefix length, flags, scope, interface index),
    /// the address as both IFA_LOCAL and IFA_ADDRESS, and IFA_FLAGS.
    static func message(ipv6 address: [UInt8], prefixLength: UInt8, interface index: UInt32) -> [UInt8] {
        var attributes = NetlinkAttributes()
        attributes.add(localAttribute, address)
        attributes.add(addressAttribute, address)
        attributes.add(flagsAttribute, NetlinkAttributes.hostOrder32(UInt32(noDAD)))
        let body = [UInt8(AF_INET6), prefixLength, noDAD, 0] + NetlinkAttributes.hostOrder32(index) + attributes.bytes
        let flags = NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.create | exclusive
        return NetlinkAttributes.hostOrder32(UInt32(16 + body.count)) + NetlinkAttributes.hostOrder16(newAddress)
            + NetlinkAttributes.hostOrder16(flags) + NetlinkAttributes.hostOrder32(1) + [0, 0, 0, 0] + body
    }

    /// Adds `text`/`prefixLength` to `interface`; nil, or the errno.
    static func addIPv6(_ text: String, prefixLength: UInt8, to interface: String) -> Int32? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return EINVAL }
        let index = if_nametoindex(interface)
        guard index != 0 else { return errno }
        let bytes = withUnsafeBytes(of: address) { Array($0) }
        return NetfilterSocket.apply(message(ipv6: bytes, prefixLength: prefixLength, interface: index), expecting: 1,
                                     protocol: NetfilterSocket.netlinkRoute)?.errno
    }
}
