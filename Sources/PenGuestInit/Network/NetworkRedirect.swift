// The guest's side of the network policy: an nftables table (`inet pen`) that sends every TCP
// connection and every DNS query the guest makes to the init's listeners (which hand them to
// pen's supervisor with their original destination) and drops other UDP. A convenience, not the
// wall: guest root can delete it, and then its packets reach only a device that goes nowhere.
// The supervisor decides every connection.
import Glibc

enum NetworkRedirect {
    static let table = "pen"

    // nftables' numbers (linux/netfilter/nf_tables.h, netfilter.h).
    private static let subsystem: UInt16 = 10  // NFNL_SUBSYS_NFTABLES
    private static let newTable: UInt16 = 0, newChain: UInt16 = 3, newRule: UInt16 = 6
    private static let batchBegin: UInt16 = 0x10, batchEnd: UInt16 = 0x11
    private static let inet: UInt8 = 1  // NFPROTO_INET
    private static let localOut: UInt32 = 3  // NF_INET_LOCAL_OUT
    private static let accept: UInt32 = 1, drop: UInt32 = 0
    private static let register1: UInt32 = 1, verdictRegister: UInt32 = 0
    private static let metaOutputInterfaceName: UInt32 = 7, metaL4Protocol: UInt32 = 16
    private static let transportHeader: UInt32 = 2

    /// The batch: the table and its nat chain, which leaves loopback alone, redirects TCP to
    /// `tcpPort` and UDP port 53 to `dnsPort`, and drops other UDP.
    static func batch(tcpPort: UInt16, dnsPort: UInt16) -> (bytes: [UInt8], messages: Int) {
        var sequence: UInt32 = 0
        var messages: [[UInt8]] = []
        func add(_ type: UInt16, _ flags: UInt16, _ build: (inout NetlinkAttributes) -> Void) {
            sequence += 1
            var attributes = NetlinkAttributes()
            build(&attributes)
            messages.append(NetlinkMessage.make(type: subsystem << 8 | type, flags: NetlinkMessage.request | NetlinkMessage.ack | flags,
                                                sequence: sequence, family: inet, attributes))
        }
        add(newTable, NetlinkMessage.create) { $0.add(1, string: table) }
        chain("nat_out", type: "nat", priority: -100, policy: accept, add)
        rule("nat_out", add) { $0.loopbackAccepted() }
        rule("nat_out", add) { e in
            e.meta(metaL4Protocol); e.compare([UInt8(IPPROTO_TCP)]); e.redirect(to: tcpPort)
        }
        rule("nat_out", add) { e in
            e.meta(metaL4Protocol); e.compare([UInt8(IPPROTO_UDP)])
            e.payload(transportHeader, offset: 2, length: 2); e.compare([0, 53]); e.redirect(to: dnsPort)
        }
        // Any other UDP: the sender gets EPERM (a nat chain sees each new flow's first packet, and a
        // dropped one never becomes a flow). A filter chain would also see the redirected
        // connections' later packets still headed for their original interface, and drop them.
        rule("nat_out", add) { e in e.meta(metaL4Protocol); e.compare([UInt8(IPPROTO_UDP)]); e.verdict(drop) }
        let begin = NetlinkMessage.make(type: batchBegin, flags: NetlinkMessage.request, sequence: 0, family: 0, resourceID: subsystem)
        let end = NetlinkMessage.make(type: batchEnd, flags: NetlinkMessage.request, sequence: sequence + 1, family: 0, resourceID: subsystem)
        return (begin + messages.joined() + end, messages.count)
    }

    /// Installs the table; the errno and the message the kernel refused, if it did.
    static func install(tcpPort: UInt16, dnsPort: UInt16) -> (sequence: UInt32, errno: Int32)? {
        let (bytes, count) = batch(tcpPort: tcpPort, dnsPort: dnsPort)
        return NetfilterSocket.apply(bytes, expecting: count)
    }

    private typealias Add = (UInt16, UInt16, (inout NetlinkAttributes) -> Void) -> Void

    private static func chain(_ name: String, type: String, priority: Int32, policy: UInt32, _ add: Add) {
        add(newChain, NetlinkMessage.create) { a in
            a.add(1, string: table)  // NFTA_CHAIN_TABLE
            a.add(3, string: name)  // NFTA_CHAIN_NAME
            a.nest(4) {  // NFTA_CHAIN_HOOK
                $0.add(1, bigEndian: localOut)  // NFTA_HOOK_HOOKNUM
                $0.add(2, bigEndian: UInt32(bitPattern: priority))  // NFTA_HOOK_PRIORITY
            }
            a.add(5, bigEndian: policy)  // NFTA_CHAIN_POLICY
            a.add(7, string: type)  // NFTA_CHAIN_TYPE
        }
    }

    private static func rule(_ chain: String, _ add: Add, _ build: (inout Expressions) -> Void) {
        var expressions = Expressions()
        build(&expressions)
        let list = expressions.list.bytes
        add(newRule, NetlinkMessage.create | NetlinkMessage.append) { a in
            a.add(1, string: table)  // NFTA_RULE_TABLE
            a.add(2, string: chain)  // NFTA_RULE_CHAIN
            a.add(4 | NetlinkAttributes.nested, list)  // NFTA_RULE_EXPRESSIONS
        }
    }

    /// A rule's expressions, in order, each a list element (name + data).
    struct Expressions {
        var list = NetlinkAttributes()

        mutating func expression(_ name: String, _ data: (inout NetlinkAttributes) -> Void) {
            list.nest(1) { element in  // NFTA_LIST_ELEM
                element.add(1, string: name)  // NFTA_EXPR_NAME
                element.nest(2, data)  // NFTA_EXPR_DATA
            }
        }

        mutating func meta(_ key: UInt32) {
            expression("meta") { $0.add(2, bigEndian: key); $0.add(1, bigEndian: register1) }  // KEY, DREG
        }

        mutating func payload(_ base: UInt32, offset: UInt32, length: UInt32) {
            expression("payload") {
                $0.add(1, bigEndian: register1); $0.add(2, bigEndian: base)  // DREG, BASE
                $0.add(3, bigEndian: offset); $0.add(4, bigEndian: length)  // OFFSET, LEN
            }
        }

        /// register 1 == value, else the rule stops here.
        mutating func compare(_ value: [UInt8]) {
            expression("cmp") {
                $0.add(1, bigEndian: register1); $0.add(2, bigEndian: 0)  // SREG, OP eq
                $0.nest(3) { $0.add(1, value) }  // DATA { VALUE }
            }
        }

        mutating func verdict(_ code: UInt32) {
            expression("immediate") {
                $0.add(1, bigEndian: verdictRegister)  // DREG
                $0.nest(2) { $0.nest(2) { $0.add(1, bigEndian: code) } }  // DATA { VERDICT { CODE } }
            }
        }

        mutating func redirect(to port: UInt16) {
            expression("immediate") {
                $0.add(1, bigEndian: register1)
                $0.nest(2) { $0.add(1, [UInt8(port >> 8), UInt8(port & 0xff)]) }  // DATA { VALUE }
            }
            expression("redir") { $0.add(1, bigEndian: register1) }  // REG_PROTO_MIN
        }

        /// oifname "lo" accept: what stays inside the guest is never touched.
        mutating func loopbackAccepted() {
            meta(metaOutputInterfaceName)
            compare(Array("lo".utf8) + [UInt8](repeating: 0, count: 14))
            verdict(accept)
        }
    }
}
