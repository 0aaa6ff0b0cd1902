// Stage 3: hostname, loopback and eth0 on QEMU's user-mode network (fixed slirp addresses).
import CGuestSys
import Glibc

enum Network {
    static let stage = "network"
    static let address = "10.0.2.15", netmask = "255.255.255.0"
    static let gateway = "10.0.2.2", resolver = "10.0.2.3"

    static func configure(hostname: String) throws(InitFailure) {
        try sys(sethostname(hostname, hostname.utf8.count), stage, "sethostname")
        try sys(pen_if_up("lo", "127.0.0.1", "255.0.0.0"), stage, "bring up lo")
        guard fileExists("/sys/class/net/eth0") else { return }  // a VM without a network device
        try sys(pen_if_up("eth0", address, netmask), stage, "configure eth0")
        try sys(pen_add_default_route(gateway), stage, "default route")
        try writeFile("/etc/resolv.conf", "nameserver \(resolver)\n")
        try writeFile("/etc/hostname", hostname + "\n")
        try writeFile("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 \(hostname)\n::1 localhost ip6-localhost ip6-loopback\n")
    }
}
