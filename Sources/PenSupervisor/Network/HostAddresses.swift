// The host's own addresses, for the policy (`PolicyHost`): `public` never opens them. The relay
// also asks the kernel's routes per connection, which covers addresses added later.
import Glibc
import PenCore

enum HostAddresses {
    static func current() -> Set<IPAddress> {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0 else { return [] }
        defer { freeifaddrs(first) }
        var out: Set<IPAddress> = []
        var next = first
        while let entry = next {
            defer { next = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr else { continue }
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                let n = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                out.insert(.v4(n))
            case AF_INET6:
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                }
                out.insert(IPAddress(ipv6: bytes))
            default:
                continue
            }
        }
        return out
    }
}
