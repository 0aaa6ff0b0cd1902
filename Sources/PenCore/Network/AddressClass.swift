// Why the `public` policy refuses an address: every range that is not a public unicast
// destination, metadata services first (they sit inside link-local and ULA ranges). IPv6 forms
// that carry an IPv4 address (mapped, NAT64, 6to4, Teredo) are judged by the address they
// carry, so `::ffff:10.0.0.1` is as private as `10.0.0.1`. The documentation ranges are public:
// some networks (this machine's among them) use them as real addresses.

public enum AddressClass: String, Sendable, CaseIterable {
    case thisNetwork = "this-network address"
    case loopback = "loopback address"
    case privateNetwork = "private address"
    case shared = "shared address space (100.64/10)"
    case metadata = "metadata address"
    case linkLocal = "link-local address"
    case multicast = "multicast address"
    case broadcast = "broadcast address"
    case benchmarking = "benchmarking address"
    case reserved = "reserved address"

    /// The class that keeps `address` from being public; nil when it is public. Benchmarking
    /// addresses (198.18/15, 2001:2::/48) count as public only when a test says so.
    public static func of(_ address: IPAddress, benchmarkingIsPublic: Bool = false) -> AddressClass? {
        let found: AddressClass?
        switch address {
        case .v4(let n): found = ofIPv4(n)
        case .v6: found = ofIPv6(address, benchmarkingIsPublic: benchmarkingIsPublic)
        }
        return found == .benchmarking && benchmarkingIsPublic ? nil : found
    }

    private static let ipv4: [(AddressRange, AddressClass)] = table([
        ("0.0.0.0/8", .thisNetwork), ("127.0.0.0/8", .loopback),
        ("10.0.0.0/8", .privateNetwork), ("172.16.0.0/12", .privateNetwork), ("192.168.0.0/16", .privateNetwork),
        ("100.64.0.0/10", .shared),
        // AWS, GCP, Azure, OpenStack, DigitalOcean…: 169.254.169.254; AWS ECS task metadata: 169.254.170.2.
        ("169.254.169.254/32", .metadata), ("169.254.170.2/32", .metadata), ("169.254.0.0/16", .linkLocal),
        // Azure's WireServer sits at a public address.
        ("168.63.129.16/32", .metadata),
        ("192.0.0.0/24", .reserved), ("192.88.99.0/24", .reserved), ("198.18.0.0/15", .benchmarking),
        ("224.0.0.0/4", .multicast), ("255.255.255.255/32", .broadcast), ("240.0.0.0/4", .reserved),
    ])

    private static let ipv6: [(AddressRange, AddressClass)] = table([
        ("::/128", .thisNetwork), ("::1/128", .loopback),
        ("fd00:ec2::254/128", .metadata), ("fc00::/7", .privateNetwork), ("fe80::/10", .linkLocal),
        ("ff00::/8", .multicast), ("2001:2::/48", .benchmarking), ("64:ff9b:1::/48", .reserved),
    ])

    private static func ofIPv4(_ n: UInt32) -> AddressClass? {
        ipv4.first { $0.0.contains(.v4(n)) }?.1
    }

    private static func ofIPv6(_ address: IPAddress, benchmarkingIsPublic: Bool) -> AddressClass? {
        // Teredo also reaches its server (bits 32–63): both addresses must be public.
        if case .v6(let hi, _) = address, hi >> 32 == 0x2001_0000,
           let server = of(.v4(UInt32(truncatingIfNeeded: hi)), benchmarkingIsPublic: benchmarkingIsPublic) { return server }
        if let carried = carriedIPv4(address) { return of(.v4(carried), benchmarkingIsPublic: benchmarkingIsPublic) }
        if let known = ipv6.first(where: { $0.0.contains(address) })?.1 { return known }
        // Only 2000::/3 is global unicast; the rest (::/8's old forms included) is not a destination.
        return range("2000::/3").contains(address) ? nil : .reserved
    }

    /// The IPv4 address an IPv6 one carries: mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96),
    /// 6to4 (2002::/16, bits 16–47) and Teredo (2001::/32, the client's address inverted).
    static func carriedIPv4(_ address: IPAddress) -> UInt32? {
        guard case .v6(let hi, let lo) = address else { return nil }
        if hi == 0 && lo >> 32 == 0xffff { return UInt32(truncatingIfNeeded: lo) }
        if hi == 0x0064_ff9b_0000_0000 && lo >> 32 == 0 { return UInt32(truncatingIfNeeded: lo) }
        if hi >> 48 == 0x2002 { return UInt32(truncatingIfNeeded: hi >> 16) }
        if hi >> 32 == 0x2001_0000 { return ~UInt32(truncatingIfNeeded: lo) }
        return nil
    }

    private static func table(_ rows: [(String, AddressClass)]) -> [(AddressRange, AddressClass)] {
        rows.map { (range($0.0), $0.1) }
    }

    private static func range(_ text: String) -> AddressRange {
        let parts = text.split(separator: "/")
        return AddressRange(IPAddress(String(parts[0]))!, prefixLength: Int(parts[1])!)!
    }
}
