// Stage 3: hostname, loopback and eth0 with the fixed addresses of the guest contract.
import CGuestSys
import Glibc
import PenWire

enum Network {
    static let stage = "network"

    static func configure(hostname: String) throws(InitFailure) {
        let net = GuestContract.Network.self
        try sys(sethostname(hostname, hostname.utf8.count), stage, "sethostname")
        try sys(pen_if_up("lo", "127.0.0.1", "255.0.0.0"), stage, "bring up lo")
        guard Files.exists("/sys/class/net/eth0") else { return }  // a VM without a network device
        try sys(pen_if_up("eth0", net.guest, net.netmask), stage, "configure eth0")
        try sys(pen_add_default_route(net.gateway), stage, "default route")
        // Replaced, not written through: any of them may be a symlink the guest's packages made.
        try Files.replace("/etc/resolv.conf", "nameserver \(net.resolver)\n")
        try Files.replace("/etc/hostname", hostname + "\n")
        try Files.replace("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 \(hostname)\n::1 localhost ip6-localhost ip6-loopback\n")
    }
}
