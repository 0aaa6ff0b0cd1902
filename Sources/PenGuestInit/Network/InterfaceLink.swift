// Removing a network interface by rtnetlink (RTM_DELLINK): the `dummy` module makes dummy0 in
// every VM (it loads before the snapshot point), and a VM without the network policy (`none`,
// `full`) must not show a device it has no use for.
import Glibc

enum InterfaceLink {
    private static let deleteLink: UInt16 = 17  // RTM_DELLINK

    /// nlmsghdr, then ifinfomsg (family, type, index, flags, change) naming the interface by index.
    static func deleteMessage(interface index: UInt32) -> [UInt8] {
        let body = [UInt8(AF_UNSPEC), 0, 0, 0] + NetlinkAttributes.hostOrder32(index) + [UInt8](repeating: 0, count: 8)
        return NetlinkAttributes.hostOrder32(UInt32(16 + body.count)) + NetlinkAttributes.hostOrder16(deleteLink)
            + NetlinkAttributes.hostOrder16(NetlinkMessage.request | NetlinkMessage.ack) + NetlinkAttributes.hostOrder32(1)
            + [0, 0, 0, 0] + body
    }

    /// Deletes `name`; nil (also when there is no such interface), or the errno.
    static func delete(_ name: String) -> Int32? {
        let index = if_nametoindex(name)
        guard index != 0 else { return nil }
        return NetfilterSocket.apply(deleteMessage(interface: index), expecting: 1, protocol: NetfilterSocket.netlinkRoute)?.errno
    }
}
